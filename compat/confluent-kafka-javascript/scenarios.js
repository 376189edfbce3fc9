// @confluentinc/kafka-javascript (librdkafka underneath; its KafkaJS-compatible API, and its
// node-rdkafka AdminClient for CreatePartitions) against brokk. Each scenario prints one
// line and exits 0, or prints FAIL and exits 1.
//
//   node scenarios.js codecs|group|commit|times|admin|idempotent|txn BOOTSTRAP
'use strict'

const ckjs = require('@confluentinc/kafka-javascript')
const { Kafka, CompressionTypes, logLevel } = ckjs.KafkaJS

const [cmd, bootstrap] = process.argv.slice(2)
const kafka = new Kafka({ kafkaJS: { brokers: [bootstrap], logLevel: logLevel.NOTHING } })

function check (cond, msg) {
  if (!cond) throw new Error(msg)
}
// JSON that also prints BigInt fields (topic ids).
const js = (v) => JSON.stringify(v, (_, x) => typeof x === 'bigint' ? x.toString() : x)
const sleep = (ms) => new Promise(resolve => setTimeout(resolve, ms))

async function until (cond, what, ms = 30000) {
  const deadline = Date.now() + ms
  while (!(await cond()) && Date.now() < deadline) await sleep(100)
  check(await cond(), what)
}

async function createTopic (admin, topic, numPartitions) {
  await admin.createTopics({ topics: [{ topic, numPartitions, replicationFactor: 1 }] })
}

// Every message of `topic` from the beginning through a throwaway group, until `n` arrived.
async function readN (topic, n, extra = {}) {
  const consumer = kafka.consumer({ kafkaJS: { groupId: `reader-${topic}-${Date.now()}`, fromBeginning: true, autoCommit: false, ...extra } })
  await consumer.connect()
  await consumer.subscribe({ topic })
  const got = []
  consumer.run({
    eachMessage: async ({ partition, message }) => {
      got.push({ partition, offset: Number(message.offset), key: message.key && message.key.toString(), value: message.value && message.value.toString(), headers: message.headers })
    }
  })
  await until(async () => got.length >= n, `${topic}: ${got.length} of ${n}`, 20000).catch(() => {})
  await consumer.disconnect()
  return got
}

async function codecs () {
  const admin = kafka.admin()
  await admin.connect()
  for (const [name, type] of [['none', CompressionTypes.None], ['gzip', CompressionTypes.GZIP], ['snappy', CompressionTypes.SNAPPY], ['lz4', CompressionTypes.LZ4], ['zstd', CompressionTypes.ZSTD]]) {
    const topic = `ckjs-codec-${name}`
    await createTopic(admin, topic, 1)
    const producer = kafka.producer({ kafkaJS: { compression: type, acks: -1 } })
    await producer.connect()
    const messages = Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: `${name}-${i}`.repeat(20), headers: { h: `${i}` } }))
    for (let i = 0; i < 500; i += 100) await producer.send({ topic, messages: messages.slice(i, i + 100) })
    await producer.disconnect()
    const got = await readN(topic, 500)
    check(got.length === 500, `${name}: ${got.length} of 500`)
    got.sort((a, b) => a.offset - b.offset).forEach((m, i) => {
      check(m.offset === i && m.key === `k${i}` && m.value === `${name}-${i}`.repeat(20) && m.headers.h.toString() === `${i}`, `${name}: record ${i}`)
    })
  }
  await admin.disconnect()
  console.log('500 keyed records with headers per codec (none, gzip, snappy, lz4, zstd) read back in order')
}

async function group () {
  const topic = 'ckjs-group'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 4)
  const conf = { kafkaJS: { groupId: 'ckjs-g', fromBeginning: true, sessionTimeout: 6000, heartbeatInterval: 300 } }
  const a = kafka.consumer(conf)
  const b = kafka.consumer(conf)
  for (const c of [a, b]) {
    await c.connect()
    await c.subscribe({ topic })
    c.run({ eachMessage: async () => {} })
  }
  const count = (c) => c.assignment().length
  await until(async () => count(a) === 2 && count(b) === 2, `split 2+2: ${count(a)} ${count(b)}`)
  await a.disconnect()
  await until(async () => count(b) === 4, `survivor owns all 4: ${count(b)}`)
  await b.disconnect()
  await admin.disconnect()
  console.log('two members split 4 partitions 2+2; after one leaves the other owns all 4')
}

async function commit () {
  const topic = 'ckjs-commit'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 1)
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 20 }, (_, i) => ({ value: `c${i}` })) })
  await producer.disconnect()
  const c = kafka.consumer({ kafkaJS: { groupId: 'ckjs-c', fromBeginning: true, autoCommit: false } })
  await c.connect()
  await c.subscribe({ topic })
  let last = -1
  c.run({ eachMessage: async ({ message }) => { last = Number(message.offset) } })
  await until(async () => last === 19, `consumed to 19: ${last}`)
  await c.commitOffsets([{ topic, partition: 0, offset: '12' }])
  await c.disconnect()
  const offsets = await admin.fetchOffsets({ groupId: 'ckjs-c', topics: [topic] })
  check(offsets[0].partitions[0].offset === '12', `fetchOffsets: ${js(offsets)}`)
  const d = kafka.consumer({ kafkaJS: { groupId: 'ckjs-c', autoCommit: false } })
  await d.connect()
  await d.subscribe({ topic })
  let first = null
  d.run({ eachMessage: async ({ message }) => { if (first === null) first = Number(message.offset) } })
  await until(async () => first !== null, 'a message after the resume')
  await d.disconnect()
  await admin.disconnect()
  check(first === 12, `resumed at ${first}`)
  console.log('commitOffsets(12), fetchOffsets = 12; a new member resumes at offset 12')
}

async function times () {
  const topic = 'ckjs-times'
  const admin = kafka.admin()
  await admin.connect()
  await createTopic(admin, topic, 1)
  const base = Date.now() - 100000
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `t${i}`, timestamp: `${base + i * 1000}` })) })
  await producer.disconnect()
  const found = await admin.fetchTopicOffsetsByTimestamp(topic, base + 4500)
  check(found[0].offset === '5', `by timestamp: ${js(found)}`)
  const bounds = await admin.fetchTopicOffsets(topic)
  check(bounds[0].low === '0' && bounds[0].high === '10', `bounds: ${js(bounds)}`)
  await admin.disconnect()
  console.log('fetchTopicOffsetsByTimestamp and fetchTopicOffsets (low, high)')
}

async function admin () {
  const a = kafka.admin()
  await a.connect()
  const topic = 'ckjs-admin'
  await createTopic(a, topic, 1)
  check((await a.listTopics()).includes(topic), 'listed')
  const md = await a.fetchTopicMetadata({ topics: [topic] })
  check(md[0].partitions[0].leader === 0, `metadata: ${js(md)}`)
  // CreatePartitions through the node-rdkafka style AdminClient.
  const rd = ckjs.AdminClient.create({ 'bootstrap.servers': bootstrap })
  await new Promise((resolve, reject) => rd.createPartitions(topic, 3, 10000, (err) => err ? reject(err) : resolve()))
  rd.disconnect()
  await until(async () => (await a.fetchTopicMetadata({ topics: [topic] }))[0].partitions.length === 3, 'grown to 3')
  const producer = kafka.producer()
  await producer.connect()
  await producer.send({ topic, messages: Array.from({ length: 10 }, (_, i) => ({ value: `r${i}`, partition: 0 })) })
  await producer.disconnect()
  await a.deleteTopicRecords({ topic, partitions: [{ partition: 0, offset: '4' }] })
  const offsets = await a.fetchTopicOffsets(topic)
  check(offsets.find(p => p.partition === 0).low === '4', `low watermark: ${js(offsets)}`)
  const c = kafka.consumer({ kafkaJS: { groupId: 'ckjs-admin-g', fromBeginning: true } })
  await c.connect()
  await c.subscribe({ topic })
  let seen = 0
  c.run({ eachMessage: async () => { seen++ } })
  await until(async () => seen >= 6, `consumed ${seen}`)
  const groups = (await a.listGroups()).groups.map(g => g.groupId)
  check(groups.includes('ckjs-admin-g'), `listGroups: ${groups}`)
  const dg = await a.describeGroups(['ckjs-admin-g'])
  check(dg.groups[0].members.length === 1, `describeGroups: ${js(dg.groups[0])}`)
  await c.disconnect()
  await a.deleteTopics({ topics: [topic] })
  await until(async () => !(await a.listTopics()).includes(topic), 'deleted')
  await a.disconnect()
  console.log('create/list/metadata/delete topics; createPartitions; deleteTopicRecords; listGroups/describeGroups')
}

async function idempotent () {
  const topic = 'ckjs-idem'
  const a = kafka.admin()
  await a.connect()
  await createTopic(a, topic, 1)
  await a.disconnect()
  const producer = kafka.producer({ kafkaJS: { idempotent: true } })
  await producer.connect()
  for (let i = 0; i < 2000; i += 200) {
    await producer.send({ topic, messages: Array.from({ length: 200 }, (_, j) => ({ value: `i${i + j}`, partition: 0 })) })
  }
  await producer.disconnect()
  const got = (await readN(topic, 2000)).sort((x, y) => x.offset - y.offset)
  check(got.length === 2000 && got.every((m, i) => m.value === `i${i}` && m.offset === i), `once, in order: ${got.length}`)
  console.log('2000 records with idempotent: true, once each, in order')
}

async function txn () {
  const input = 'ckjs-txn-in'
  const output = 'ckjs-txn-out'
  const a = kafka.admin()
  await a.connect()
  await createTopic(a, input, 1)
  await createTopic(a, output, 1)
  const producer = kafka.producer({ kafkaJS: { transactionalId: 'ckjs-tx', idempotent: true } })
  await producer.connect()
  let t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'committed-1' }] })
  await t.commit()
  t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'aborted' }] })
  await t.abort()
  const g = kafka.consumer({ kafkaJS: { groupId: 'ckjs-txn-group', autoCommit: false } })
  await g.connect()
  t = await producer.transaction()
  await t.send({ topic: output, messages: [{ value: 'committed-2' }] })
  await t.sendOffsets({ consumer: g, topics: [{ topic: input, partitions: [{ partition: 0, offset: '5' }] }] })
  await t.commit()
  await producer.disconnect()
  await g.disconnect()
  // librdkafka's default isolation.level is read_committed.
  const got = (await readN(output, 2)).sort((x, y) => x.offset - y.offset)
  check(got.map(m => m.value).join() === 'committed-1,committed-2', `read_committed: ${got.map(m => m.value)}`)
  const offsets = await a.fetchOffsets({ groupId: 'ckjs-txn-group', topics: [input] })
  check(offsets[0].partitions[0].offset === '5', `sendOffsets committed: ${js(offsets)}`)
  await a.disconnect()
  console.log('commit, abort, commit with sendOffsets: read_committed sees the two commits; the group offset is the transaction\'s')
}

const scenarios = { codecs, group, commit, times, admin, idempotent, txn }
const timer = setTimeout(() => { console.error(`FAIL: ${cmd} timed out`); process.exit(1) }, 120000)
scenarios[cmd]().then(() => { clearTimeout(timer); process.exit(0) }, (e) => {
  console.error(`FAIL: ${e && e.stack ? e.stack : e}`)
  process.exit(1)
})
