module github.com/jetmail/jetmail/services

go 1.26.8

require github.com/jetmail/jetmail/shared v0.0.0

replace github.com/jetmail/jetmail/shared => ../shared
