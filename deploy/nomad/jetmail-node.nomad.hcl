# A jetmail node per client, against the NATS cluster registered in Consul as
# "nats". Services are chosen by the args of `jetmail serve`; per-service jobs
# live beside this file.
job "jetmail-node" {
  datacenters = ["dc1"]
  type        = "service"

  group "node" {
    count = 2

    constraint {
      distinct_hosts = true
    }

    network {
      port "http" {
        to = 8080
      }
    }

    update {
      max_parallel     = 1
      health_check     = "checks"
      min_healthy_time = "10s"
    }

    task "jetmail" {
      driver = "docker"

      config {
        image = "jetmail:latest"
        ports = ["http"]
        args  = ["serve", "--config", "/local/jetmail.toml", "--node-id", "${NOMAD_ALLOC_INDEX}", "--http", "0.0.0.0:8080"]
      }

      # jetmail drains in-flight work on SIGTERM; give it the time to.
      kill_signal  = "SIGTERM"
      kill_timeout = "45s"

      # The admin API (/jmap) on the http port takes bearer tokens: it is
      # served over TLS only. Store the PEM certificate and key once for all
      # jetmail jobs: nomad var put nomad/jobs jetmail_http_cert=@cert.pem jetmail_http_key=@key.pem
      template {
        destination = "secrets/http-cert.pem"
        change_mode = "restart"
        data        = "{{ with nomadVar \"nomad/jobs\" }}{{ .jetmail_http_cert }}{{ end }}"
      }

      template {
        destination = "secrets/http-key.pem"
        change_mode = "restart"
        perms       = "0600"
        data        = "{{ with nomadVar \"nomad/jobs\" }}{{ .jetmail_http_key }}{{ end }}"
      }

      # This job's NATS identity (jetmail nats-auth): an NKey seed that the
      # servers' auth.conf lets use only what the services of a node running them all needs. Store it once:
      # nomad var put nomad/jobs jetmail_nats_node=@auth/node.nk
      template {
        destination = "secrets/nats.nk"
        change_mode = "restart"
        perms       = "0600"
        data        = "{{ with nomadVar \"nomad/jobs\" }}{{ .jetmail_nats_node }}{{ end }}"
      }

      template {
        destination = "local/jetmail.toml"
        data        = <<EOT
[nats]
url = "{{ range $i, $s := service "nats" }}{{ if $i }},{{ end }}nats://{{ $s.Address }}:{{ $s.Port }}{{ end }}"
replicas = 3
nkey = "/secrets/nats.nk"
[http.tls]
cert = "/secrets/http-cert.pem"
key = "/secrets/http-key.pem"
EOT
      }

      service {
        name = "jetmail-node"
        port = "http"

        check {
          type            = "http"
          protocol        = "https"
          tls_skip_verify = true # a health probe sends no secret
          path            = "/health"
          interval        = "10s"
          timeout         = "2s"
        }

        check {
          name            = "ready"
          type            = "http"
          protocol        = "https"
          tls_skip_verify = true # a health probe sends no secret
          path            = "/ready"
          interval        = "10s"
          timeout         = "2s"
        }
      }

      resources {
        cpu    = 500
        memory = 256
      }
    }
  }
}
