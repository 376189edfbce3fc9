// Leader epochs (KIP-320) with @confluentinc/kafka-javascript: a consumer outlives a broker
// restart. 10 messages at leader epoch 0; the broker restarts (SIGTERM) at epoch 2; the
// running consumer (the librdkafka-style KafkaConsumer, whose `event.log` carries
// librdkafka's fetch debug lines) validates its position with OffsetForLeaderEpoch and
// reads the next 10 messages once each.
//
//   node epochs.js BOOTSTRAP BROKK_BIN DATA_DIR
//
// The script runs the broker itself, as ../lib/brokerproc.py does for the Python suites.
'use strict'

const { spawn } = require('child_process')
const fs = require('fs')
const ckjs = require('@confluentinc/kafka-javascript')
const { Kafka, logLevel } = ckjs.KafkaJS

const [bootstrap, brokkBin, dataDir] = process.argv.slice(2)
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))
function check (cond, msg) { if (!cond) throw new Error(msg) }
async function until (cond, what, ms = 30000) {
  const deadline = Date.now() + ms
  while (!cond() && Date.now() < deadline) await sleep(50)
  check(cond(), what)
}

let broker = null
let starts = 0
async function startBroker () {
  starts += 1
  const log = `${dataDir}.${starts}.log`
  broker = spawn(brokkBin, ['--listen', bootstrap, '--data-dir', dataDir],
    { stdio: ['ignore', 'ignore', fs.openSync(log, 'w')], env: { ...process.env, NO_COLOR: '1' } })
  fs.writeFileSync(`${dataDir}.pid`, String(broker.pid)) // the harness's cleanup kills it if we die
  await until(() => fs.readFileSync(log, 'utf8').includes('brokk listening on'), `broker did not listen, see ${log}`, 10000)
}
async function stopBroker () {
  const exited = new Promise(resolve => broker.once('exit', resolve))
  broker.kill('SIGTERM')
  await Promise.race([exited, sleep(10000).then(() => { throw new Error('broker did not stop within 10s') })])
  broker = null
}

const kafka = new Kafka({ kafkaJS: { brokers: [bootstrap], logLevel: logLevel.NOTHING } })

async function produce (values) {
  const p = kafka.producer({ kafkaJS: { idempotent: false } })
  await p.connect()
  await p.send({ topic: 'e1', messages: values.map(value => ({ value, partition: 0 })) })
  await p.disconnect()
}

async function main () {
  await startBroker()
  const admin = kafka.admin()
  await admin.connect()
  await admin.createTopics({ topics: [{ topic: 'e1', numPartitions: 1, replicationFactor: 1 }] })
  await admin.disconnect()
  await produce([...Array(10).keys()].map(i => `a${i}`))

  const logs = []
  const got = []
  const consumer = new ckjs.KafkaConsumer({
    'bootstrap.servers': bootstrap,
    'group.id': 'epochs-dummy',
    'enable.auto.commit': false,
    'fetch.wait.max.ms': 100,
    debug: 'fetch'
  }, {})
  consumer.on('event.log', e => logs.push(e.message))
  consumer.on('event.error', () => {}) // connection errors while the broker restarts
  consumer.on('data', m => got.push(`${m.offset}|${m.value.toString()}`))
  await new Promise((resolve, reject) => consumer.connect({}, err => err ? reject(err) : resolve()))
  consumer.assign([{ topic: 'e1', partition: 0, offset: 0 }])
  consumer.consume()
  await until(() => got.length >= 10, `only ${got.length} of 10 messages before the restart`)

  await stopBroker()
  await startBroker()
  await produce([...Array(10).keys()].map(i => `b${i}`))
  await until(() => got.length >= 20, `only ${got.length} of 20 messages after the restart`)
  await sleep(500)
  const want = [...Array(10).keys()].map(i => `${i}|a${i}`).concat([...Array(10).keys()].map(i => `${10 + i}|b${i}`))
  check(JSON.stringify(got) === JSON.stringify(want), `messages: ${JSON.stringify(got)}`)
  const valid = logs.find(l => l.includes('offset and epoch validation succeeded'))
  check(valid && valid.includes('broker end offset 10 (offset leader epoch 0)'),
    `librdkafka never validated its position: ${logs.filter(l => l.includes('VALIDATE') || l.includes('epoch')).slice(0, 5)}`)
  console.log(`   ${valid}`)
  await new Promise(resolve => consumer.disconnect(resolve))
}

const bail = (why) => { console.error(`FAIL: ${why}`); if (broker) broker.kill('SIGKILL'); process.exit(1) }
const timer = setTimeout(() => bail('epochs timed out'), 80000)
process.on('SIGTERM', () => bail('SIGTERM'))
process.on('SIGINT', () => bail('SIGINT'))
main().then(() => {
  clearTimeout(timer)
  if (broker) broker.kill('SIGKILL')
  process.exit(0)
}, err => bail(err.stack || err))
