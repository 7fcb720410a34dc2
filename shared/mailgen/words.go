package mailgen

// wordList is the vocabulary, roughly most frequent first: function words,
// then everyday words, then the words of office mail. Its order is the
// frequency rank the generator draws from; a word listed twice counts at its
// first place.
const wordList = `
the of and to a in is it you that he was for on are with as his they be at one
have this from or had by not but what some we can out other were all there when
up use your how said an each she which do their time if will way about many then
them write would like so these her long make thing see him two has look more day
could go come did number sound no most people my over know water than call first
who may down side been now find any new work part take get place made live where
after back little only round man year came show every good me give our under name
very through just form sentence great think say help low line differ turn cause
much mean before move right boy old too same tell does set three want air well
also play small end put home read hand port large spell add even land here must
big high such follow act why ask men change went light kind off need house
picture try us again animal point mother world near build self earth father head
stand own page should country found answer school grow study still learn plant
cover food sun four between state keep eye never last let thought city tree cross
farm hard start might story saw far sea draw left late run while press close
night real life few north open seem together next white children begin got walk
example ease paper group always music those both mark often letter until mile
river car feet care second book carry took science eat room friend began idea
fish mountain stop once base hear horse cut sure watch color face wood main
enough plain girl usual young ready above ever red list though feel talk bird
soon body dog family direct pose leave song measure door product black short
numeral class wind question happen complete ship area half rock order fire south
problem piece told knew pass since top whole king space heard best hour better
true during hundred five remember step early hold west ground interest reach fast
verb sing listen six table travel less morning ten simple several vowel toward
war lay against pattern slow center love person money serve appear road map rain
rule govern pull cold notice voice unit power town fine certain fly fall lead cry
dark machine note wait plan figure star box noun field rest correct able pound
done beauty drive stood contain front teach week final gave green quick develop
ocean warm free minute strong special mind behind clear tail produce fact street
inch multiply nothing course stay wheel full force blue object decide surface
deep moon island foot system busy test record boat common gold possible plane
stead dry wonder laugh thousand ago ran check game shape equate hot miss brought
heat snow tire bring yes distant fill east paint language among grand ball yet
wave drop heart present heavy dance engine position arm wide sail material size
vary settle speak weight general ice matter circle pair include divide syllable
felt perhaps pick sudden count square reason length represent art subject region
energy hunt probable bed brother egg ride cell believe fraction forest sit race
window store summer train sleep prove lone leg exercise wall catch mount wish sky
board joy winter sat written wild instrument kept glass grass cow job edge sign
visit past soft fun bright gas weather month million bear finish happy hope
flower clothe strange gone jump baby eight village meet root buy raise solve
metal whether push seven paragraph third shall held hair describe cook floor
either result burn hill safe cat century consider type law bit coast copy phrase
silent tall sand soil roll temperature finger industry value fight lie beat
excite natural view sense ear else quite broke case middle kill son lake moment
scale loud spring observe child straight consonant nation dictionary milk speed
method organ pay age section dress cloud surprise quiet stone tiny climb cool
design poor lot experiment bottom key iron single stick flat twenty skin smile
crease hole trade melody trip office receive row mouth exact symbol die least
trouble shout except wrote seed tone join suggest clean break lady yard rise bad
blow oil blood touch grew cent mix team wire cost lost brown wear garden equal
sent choose fell fit flow fair bank collect save control decimal gentle woman
captain practice separate difficult doctor please protect noon whose locate ring
character insect caught period indicate radio spoke atom human history effect
electric expect crop modern element hit student corner party supply bone rail
imagine provide agree thus capital chair danger fruit rich thick soldier process
operate guess necessary sharp wing create neighbor wash bat rather crowd corn
compare poem string bell depend meat rub tube famous dollar stream fear sight
thin triangle planet hurry chief colony clock mine tie enter major fresh search
send yellow gun allow print dead spot desert suit current lift rose continue
block chart hat sell success company subtract event particular deal swim term
opposite wife shoe shoulder spread arrange camp invent cotton born determine
quart nine truck noise level chance gather shop stretch throw shine property
column molecule select wrong gray repeat require broad prepare salt nose plural
anger claim continent oxygen sugar death pretty skill women season solution
magnet silver thank branch match suffix especially fig afraid huge sister steel
discuss forward similar guide experience score apple bought led pitch coat mass
card band rope slip win dream evening condition feed tool total basic smell
valley nor double seat arrive master track parent shore division sheet substance
favor connect post spend chord fat glad original share station dad bread charge
proper bar offer segment duck instant market degree populate chick dear
enemy reply drink occur support speech nature range steam motion path liquid log
meant quotient teeth shell neck
meeting project report team update week client customer review plan budget
schedule call email attached please thanks regards question issue deadline
proposal contract invoice payment order delivery service support account manager
office document draft version feedback approval request information details
discussion agenda minutes presentation slides quarter sales revenue cost price
offer discount quote purchase shipment package tracking warehouse inventory
supplier vendor partner agreement terms legal compliance policy procedure process
workflow task ticket priority status progress milestone launch release feature
bug fix test build deploy server database backup network security password login
access permission user admin configuration setting installation upgrade
maintenance outage incident alert monitoring performance capacity storage cloud
platform application software hardware device laptop phone mobile desktop
printer scanner screen keyboard mouse cable adapter charger battery license
subscription renewal trial demo training workshop seminar conference webinar
session speaker audience registration venue hotel flight booking reservation
itinerary expense receipt reimbursement travel trip visa passport airport taxi
train station parking lunch dinner breakfast coffee restaurant menu catering
birthday holiday vacation leave absence sick appointment interview candidate
resume position hiring recruitment onboarding colleague department division
headquarters branch location building floor desk kitchen lobby reception
visitor guest delivery courier mail letter parcel signature form application
registration certificate diploma degree course lesson homework exam grade
teacher parent student class semester tuition scholarship library research
analysis data report chart graph table spreadsheet summary conclusion
recommendation strategy goal objective target result outcome impact benefit
risk opportunity challenge solution option alternative decision approval
confirmation reminder notification announcement newsletter invitation
celebration party anniversary wedding congratulations apology complaint refund
exchange return warranty repair replacement damage claim insurance policy
premium coverage deductible bank loan mortgage interest rate tax return refund
salary bonus raise promotion review evaluation appraisal objective competency
skill strength weakness improvement development career mentor coach leader
director president chairman board shareholder investor stakeholder sponsor
committee council association member community volunteer donation charity event
fundraiser campaign marketing advertising brand logo website content blog post
article editor author publisher magazine journal press release media interview
journalist photographer photo image video recording podcast episode channel
stream audio microphone camera lighting studio production editing
`

// wordList2 continues the vocabulary with less frequent words.
const wordList2 = `
accept accident accompany accomplish accurate achieve acknowledge acquire
across action active activity actual actually adapt address adequate adjust
administration admire admit adopt adult advance advantage adventure advice
advise affair affect afford afternoon agency agent aggressive agreeable ahead
aid aim aircraft airline alarm album alcohol alive alliance almost alone along
already alter although altogether amazing ambition amount amuse ancient angle
angry ankle announce annual another anxious anybody anyone anything anyway
anywhere apart apartment apparent appeal appearance appetite applause apply
appoint appreciate approach appropriate approve approximately arch argue
argument arise armed army around arrangement arrest arrival arrow article
artist ashamed aside asleep aspect assemble assert assess asset assign assist
assistant associate assume assure attach attack attempt attend attention
attitude attorney attract attractive auction audit august aunt authority
automatic autumn available avenue average avoid awake award aware away awful
awkward background backward bacon badge bag baggage bake balance balcony ban
bandage banner bargain barrel barrier basement basin basis basket bath bathroom
battery battle bay beach beam bean beard beast beautiful because become bedroom
beef beer beg beginning behave behavior being belief belong below belt bench
bend beneath beside besides bet beyond bicycle bid bill billion bind biology
bite bitter blade blame blank blanket blind blossom board boast bold bolt
bond bonus border bored boring borrow boss bother bottle bounce bound boundary
bow bowl brain brake brand brass brave breath breathe breed breeze brick bride
bridge brief briefly brilliant broadcast brush bubble bucket budget buffer bulb
bulk bullet bunch bundle burden bureau burst bury bush business butter button
cabin cabinet cable cafe cage cake calculate calendar calm campaign campus
cancel cancer candidate candle candy canvas cap capable capture carbon career
careful careless cargo carpet cart cartoon cash cast castle casual catalog
category cattle ceiling celebrate cement census ceremony chain chairman
champion channel chapter charity charm cheap cheat cheerful cheese chemical
chemistry chest chicken childhood chin chip chocolate choice church cinema
circuit circumstance citizen civil clarify clause clerk clever cliff climate
clinic closet clue cluster coach coal coalition coin collapse collar colleague
collection college combination combine comfort comfortable command comment
commercial commission commit commitment committee communicate communication
companion comparison compete competition competitive complain complaint
complex complicated component compose composition comprehensive compromise
compute computer concentrate concept concern concert conclude concrete conduct
conference confidence confident confirm conflict confuse congress conscious
consequence conservative considerable consist consistent constant constitute
construct construction consult consume consumer contact contemporary content
contest context contract contrast contribute contribution convenient
convention conversation convert convince cooperate coordinate cope core corporate
corporation correspond cottage cough council counsel counter county couple
courage court cousin crack craft crash crazy cream creative creature credit crew
crime criminal crisis criteria critic critical criticism criticize crucial
cruel crush culture cup cupboard curious currency curtain curve cushion custom
cycle daily damage damp data database date daughter dawn deadline debate debt
decade decent declare decline decorate decrease dedicate defeat defend define
definite definitely delay delegate delete deliberate delicate delight deliver
demand democracy demonstrate deny department departure deposit depth deputy
derive descend description deserve desk desperate despite destination destroy
detail detect determination device devote diagram dialogue diet difference
digital dinner diplomat direction director dirt dirty disagree disappear
disappoint disaster discipline discount discover discovery disease dish dismiss
display distance distinct distinguish distribute district disturb dive diverse
document domestic dominate donate double doubt downtown dozen drag drama
dramatic drawer drawing dull dust duty eager earn ease easily eastern economic
economy edition editor educate education effective efficient effort elbow
elderly elect election electricity elegant elsewhere embarrass embassy emerge
emergency emotion emotional emphasis emphasize empire employ employee employer
employment empty enable encounter encourage endless enforce engage engineer
enjoy enormous ensure entertain enthusiasm entire entrance entry envelope
environment episode equipment era error escape essay essential establish estate
estimate evaluate eventually evidence evil exactly examine excellent exception
excess exchange excitement exclude excuse executive exhibit exist existence
expand expansion expensive expert explain explanation explore export expose
express expression extend extension extensive extent external extra extreme
fabric facility factor factory fade fail failure faint faith familiar fancy
fantastic fare fashion fault favorite feature federal fee female fence festival
fever fiction file film filter finance financial firm fiscal flag flame flash
flavor flight float flood fold folk fond fool forecast foreign forever forget
forgive formal format former formula fortune forum foundation frame framework
frank freedom freeze frequent friendly frighten frozen fuel function fund
fundamental funeral funny furniture further furthermore future gain gallery gap
garage gate gear gene generate generation generous genuine gesture ghost giant
gift global glove goal golden govern government grab grade gradually graduate
grain grant grateful grave greet grocery gross guarantee guard guest guilty
habit hall handle hang harbor hardly harm harvest hate hazard headline health
healthy hearing height hello hero hesitate hidden hide highlight highly
highway hint hire historic holder hollow holy honest honor hook horizon horror
hospital host hostile household housing however hug humor hunger hungry husband
identify identity ignore illegal illness illustrate image immediate immediately
immigrant implement imply import impose impress impression impressive improve
incentive incident income increase increasingly incredible independent index
indicator individual indoor infant infection inflation influence inform initial
initiative injury inner innocent input inquiry insert inside insight insist
inspect inspire install instance instead institute institution instruction
insurance intend intense intention internal international internet interpret
interrupt interval introduce invest investigate investment invitation invite
involve item jacket jail jewel joint joke journey judge judgment juice junior
jury justice justify keen kick kid kiss kit knee knife knock knot knowledge label
labor lack ladder landscape lane laptop largely laser latter launch laundry
lawyer layer lazy leadership leaf league lean lease leather lecture legacy legal
legend leisure lemon lend lesson liberal library license lifetime limit limited
link lip liquid literally literature loan lobby local lock logic lonely loose
lord lose loss lovely lower loyal luck lucky luggage lunch luxury magazine magic
mail maintain maintenance majority male mall manage management manner
manufacture margin marine marriage married marvel mask massive match mate mayor
meal meanwhile measurement mechanism medal media medical medicine medium member
membership memory mental mention merchant mercy mere merely merit mess message
middle midnight military minimum minister minor minority mirror mission mistake
mixture mobile mode model moderate modest monitor monkey monthly mood moral
moreover mortgage mostly motor mouse movement movie mud muscle museum
musical mystery myth narrow national native naval navy nearby nearly neat
negative negotiate nephew nerve nervous network neutral nevertheless newspaper
nice niece nightmare nobody nod none nonetheless normal normally notebook novel
nowhere nuclear nurse nut obey objective obligation obtain obvious obviously
occasion occasional occupy odd offense offensive officer official ongoing onion
online opera operation operator opinion opponent oppose opposition option
orange ordinary organic organization organize origin otherwise ought outcome
outdoor outer outline output outside outstanding oven overall overcome overlook
overseas owe owner pace pack package pain painful painting palace pale pan
panel panic pants parade pardon park parking partial participant participate
partly partner partnership passage passenger passion passport password pasta
patch patience patient pause peace peaceful peak peer penalty pencil pension
pepper percent perception perfect perfectly perform performance permanent
permit personal personality personnel perspective persuade pet phase phenomenon
philosophy photograph physical physics piano pile pilot pin pink pipe pity
pizza plastic plate platform player pleasant pleased pleasure plenty plot plus
pocket poet poetry pole police policy polish polite political politics poll
pollution pool popular population port portion portrait positive possess
possession possibility possibly potato potential poverty powder powerful
practical praise pray prayer precious precise predict prefer pregnant premium
presence preserve president pressure presumably prevent previous previously
pride priest primarily primary prime prince princess principal principle prior
priority prison prisoner privacy private prize probably procedure proceed
profession professional professor profile profit program progress prohibit
promise promote prompt proof proportion proposal propose prospect protection
protein protest proud provider province provision psychology pub public
publication publish punch punish pupil purchase pure purple purpose pursue
puzzle qualify quality quantity quarter queen quit quote rabbit racial radical
rage railway random rank rapid rapidly rare rarely rat rate rating raw react
reaction reader readily reality realize rear reasonable recall recent recently
recipe recognize recommend recover recovery recruit reduce reduction refer
reference reflect reform refuse regard regardless regime register regret
regular regulation reject relate relation relationship relative relatively
relax release relevant reliable relief relieve religion religious reluctant
rely remain remark remarkable remind remote removal remove rent repair replace
reporter republic reputation rescue research resemble reservation reserve
resident resign resist resistance resolution resolve resort resource respect
respond response responsibility responsible restaurant restore restrict
retail retain retire retirement reveal revenue reverse revolution reward rhythm
rice rid ridiculous rifle rival roof rough route routine royal rubber rude ruin
rumor rural rush sacred sad safety salad salary sale sample sandwich satellite
satisfy sauce sausage scandal scare scene schedule scheme scholar scientific
scientist scope scratch scream screen script sculpture seal secret secretary
sector secure security seek seize seldom senate senior sensitive sentence
sequence series serious servant session severe sew shade shadow shake
shallow shame shelf shelter shift shirt shock shoot shortly shot shower shut shy
sick signal significant silence silk silly sink site situation skirt slice
slide slight slightly slope smart smoke smooth snake soap soccer social society
sock sofa software solar soldier solid somebody somehow someone something
sometimes somewhat somewhere sophisticated sorry sort soul source southern
spare speaker species specific spectacular speed spell spice spin spirit
spiritual split sponsor spokesman sport spray squad stable stack staff stage
stair stake stamp standard stare statement statistic status steady steal steep
stem stick stiff stimulate stock stomach storage storm strategic strategy straw
strength stress strict strike stroke structure struggle studio stuff stupid
style submit subsequent substantial succeed successful sufficient suggestion
suitable sum summit sunny super superior supervisor supplement suppose
supreme surgery surround survey survive suspect suspend sustain swallow swear
sweat sweep sweet swing switch sword sympathy tackle tactic talent tank tap tape
target task taste tax tea tear technical technique technology teenager
telephone telescope television temple temporary tenant tend tendency tennis
tension tent terrible territory terror thanks theater theme theory therapy
therefore thereby thin thorough thoroughly threat threaten throat thumb thunder
ticket tide tight timber tiny tip tissue title tobacco today toe toilet tomato
tomorrow tongue tonight tooth topic tough tour tourist towel tower toy trace
tradition traffic tragedy trail transfer transform transition translate
transport trap trash treasure treat treatment treaty tremendous trend trial
tribe trick troop tropical trust truth tunnel twice twin typical typically ugly
ultimate ultimately unable uncle uncomfortable undergo understand unemployment
unexpected unfair unfortunately uniform union unique universal universe
university unknown unless unlike unlikely unusual upper upset urban urge urgent
useful usually utility vacation vague valid valuable variable variation variety
various vast vegetable vehicle venture version versus vessel veteran via victim
victory video viewer violence violent virtual virtue virus visible vision visual
vital vitamin volume volunteer vote voter vulnerable wage wagon waist wander
warehouse warn warning warrant wealth weapon wedding weekend weekly weird
welcome welfare western wheat whenever whereas whisper wholly wide widely widow
willing wine wise withdraw within without witness wonderful worker workshop
worldwide worry worth worthy wound wrap wrist writer yesterday yield youth zone
`
