/**
 * Privacy of medical records across a network (no node ever holds a record's plaintext): four
 * hospital validators as real nodes (libp2p on 127.0.0.1) in this process, the CLI as child
 * processes.
 *
 * The story: a doctor puts a prescription and a lab report through node 0, each carrying a unique
 * random marker; the patient grants a pharmacy prescriptions and it gets the prescription through
 * node 2 (which holds the ciphertext only from its peers); an insurer without consent, a second
 * pharmacy whose short grant expired, and the pharmacy after the patient revoked are refused, leave
 * no output file, and are on the patient's audit trail.
 *
 * Then, with every node stopped, no marker appears in any LevelDB key or value, any blob, any other
 * file of any node's home, or any gossip message any node sent or received (observed on each
 * node's gossipsub through `observedLibp2pNetwork`). The scan is shown not to be vacuous, and the
 * same scan finds the markers in the decrypted files (positive control).
 */
import { describe, it, after } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'
import { pino } from 'pino'
import type { TopicValidatorFn } from '@libp2p/gossipsub'
import { createTestnet } from '../../src/node/home.js'
import { MedchainNode } from '../../src/node/node.js'
import { observedLibp2pNetwork } from '../../src/node/network.js'
import { HomePaths } from '../../src/node/config.js'
import { Keystore } from '../../src/keystore/store.js'
import { TxType } from '../../src/types/tx.js'
import { decodeTxBatch } from '../../src/p2p/gossip.js'
import type { P2pHost } from '../../src/p2p/host.js'
import { failedCode, okJson, runCli, type CliRun } from '../utils/cli.js'
import { filesUnder, labReport, prescription } from '../utils/records.js'
import { waitForHeight } from '../utils/nodes.js'
import { freePorts } from '../utils/ports.js'

const PASSPHRASE = 'pw'
const CHEAP_SCRYPT = { n: 1024, r: 8, p: 1 }
const FAST = { proposeMs: 400, prevoteMs: 200, precommitMs: 200, deltaMs: 200, capMs: 2000, commitMs: 100 }
const N = 4

interface GossipMessage { node: number, topic: 'txs' | 'consensus', direction: 'in' | 'out', data: Uint8Array }

/**
 * Records every gossip message `host` publishes (wrapping gossipsub's `publish`) or receives (wrapping
 * the topic validators, which see every received message before its verdict).
 */
function observeGossip (node: number, host: P2pHost, sink: GossipMessage[]): void {
  const pubsub = host.libp2p.services.pubsub
  const topicKind = new Map<string, 'txs' | 'consensus'>([[host.topics.txs, 'txs'], [host.topics.consensus, 'consensus']])
  const publish = pubsub.publish.bind(pubsub)
  pubsub.publish = async (...args: Parameters<typeof publish>) => {
    const [topic, data] = args
    const kind = topicKind.get(topic)
    if (kind !== undefined && data !== undefined) sink.push({ node, topic: kind, direction: 'out', data: new Uint8Array(data) })
    return await publish(...args)
  }
  for (const [topic, kind] of topicKind) {
    const validate = pubsub.topicValidators.get(topic)
    assert.ok(validate !== undefined, `node ${node} validates ${kind} gossip`)
    const observed: TopicValidatorFn = (peer, message) => {
      sink.push({ node, topic: kind, direction: 'in', data: new Uint8Array(message.data) })
      return validate(peer, message)
    }
    pubsub.topicValidators.set(topic, observed)
  }
}

describe('privacy: record contents never reach a node or the gossip in the clear', () => {
  const dir = mkdtempSync(join(tmpdir(), 'medchain-privacy-'))
  const devnet = join(dir, 'devnet')
  const outDir = join(dir, 'out')
  const nodes: Array<MedchainNode | undefined> = []
  after(async () => {
    await Promise.all(nodes.map(async (n) => await n?.stop()))
    rmSync(dir, { recursive: true, force: true })
  })

  it('anchors, grants, serves through another node and refuses; no marker in any store, file or gossip message', { timeout: 180_000 }, async (t) => {
    mkdirSync(outDir)
    const markers: string[] = []
    const marker = (label: string): string => {
      const m = `MARKER-${label}-${randomBytes(12).toString('hex')}`
      markers.push(m)
      return m
    }
    // each marker as text and as hex (RPC, logs and JSON carry bytes as hex)
    const needles = (): string[] => markers.flatMap((m) => [m, Buffer.from(m).toString('hex')])
    const found = (bytes: Uint8Array): string[] => {
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1')
      return needles().filter((n) => text.includes(n))
    }

    // --- four validators, every gossip message observed
    const ports = await freePorts(2 * N)
    const summary = createTestnet({ out: devnet, validators: N, passphrase: PASSPHRASE, scrypt: CHEAP_SCRYPT, timeouts: FAST })
    const keystore = new Keystore(summary.keystore, { scrypt: CHEAP_SCRYPT })
    for (const name of ['insurer', 'pharmacy-2']) keystore.create(name, PASSPHRASE)
    const gossip: GossipMessage[] = []
    const start = async (i: number): Promise<MedchainNode> => await MedchainNode.start({
      home: summary.nodes[i]?.home as string,
      network: observedLibp2pNetwork((host) => { observeGossip(i, host, gossip) }),
      logger: pino({ level: 'silent' }),
      config: (c) => ({
        ...c,
        p2p: { listen: `/ip4/127.0.0.1/tcp/${ports[i] as number}`, peers: c.p2p.peers.map((p) => ({ ...p, address: `/ip4/127.0.0.1/tcp/${ports[Number(p.name.replace('node', ''))] as number}` })) },
        rpc: { ...c.rpc, port: ports[N + i] as number, ratePerSecond: 1000 }
      })
    })
    for (let i = 0; i < N; i++) nodes[i] = await start(i)
    const node = (i: number): MedchainNode => nodes[i] as MedchainNode
    await Promise.all(nodes.map(async (_, i) => { await waitForHeight(node(i), 2) }))
    const url = (i: number): string => node(i).rpc?.url as string

    const medchain = async (i: number, args: string[]): Promise<CliRun> =>
      await runCli(['--home', devnet, '--json', ...args, '--rpc', url(i)], { MEDCHAIN_PASSPHRASE: PASSPHRASE })
    const writeJson = (name: string, value: unknown): string => {
      const path = join(dir, name)
      writeFileSync(path, JSON.stringify(value, null, 2))
      return path
    }
    const out = (name: string): string => join(outDir, name)

    // --- registrations (different signers, so in parallel), then the enrolment
    const registered = await Promise.all([
      medchain(0, ['tx', 'register-clinician', '--from', 'hospital-a', '--key', 'doctor', '--name', 'Dr. Ada', '--role', 'doctor']),
      medchain(1, ['tx', 'register-organization', '--from', 'hospital-b', '--key', 'pharmacy', '--name', 'Main St Pharmacy', '--kind', 'pharmacy']),
      medchain(2, ['tx', 'register-organization', '--from', 'hospital-c', '--key', 'insurer', '--name', 'Acme Insurance', '--kind', 'insurer']),
      medchain(3, ['tx', 'register-organization', '--from', 'hospital-d', '--key', 'pharmacy-2', '--name', 'Second Pharmacy', '--kind', 'pharmacy'])
    ])
    for (const run of registered) okJson(run)
    okJson(await medchain(0, ['tx', 'enrol-patient', '--from', 'doctor', '--patient', 'patient']))

    // --- the doctor puts a prescription through node 0
    const rxFile = writeJson('rx.json', prescription(marker('rx')))
    const rx = okJson<{ recordId: string, contentHash: string }>(await medchain(0, ['record', 'put', rxFile, '--patient', 'patient', '--from', 'doctor']))

    // a grant to the second pharmacy that expires in a few seconds (the next steps take about as long)
    const expiresAt = Date.now() + 10_000
    okJson(await medchain(1, ['tx', 'grant', '--from', 'patient', '--grantee', 'pharmacy-2', '--types', 'MedicationRequest', '--purpose', 'pharmacy', '--expires', String(expiresAt)]))

    // at once: the doctor puts a lab report, and the insurer, which holds no consent, tries to read
    const reportFile = writeJson('report.json', labReport(marker('report')))
    const [reportRun, insurerRun] = await Promise.all([
      medchain(0, ['record', 'put', reportFile, '--patient', 'patient', '--from', 'doctor']),
      medchain(3, ['record', 'get', rx.recordId, '--as', 'insurer', '--out', out('insurer-rx.json')])
    ])
    const report = okJson<{ recordId: string, contentHash: string }>(reportRun)
    assert.equal(failedCode(insurerRun), 'ACCESS_NO_CONSENT')
    assert.ok(!existsSync(out('insurer-rx.json')), 'a refused read writes no file')

    // the patient grants the pharmacy prescriptions; it reads the prescription through node 2
    const grant = okJson<{ grantId: string }>(await medchain(0, ['tx', 'grant', '--from', 'patient', '--grantee', 'pharmacy', '--types', 'MedicationRequest', '--purpose', 'pharmacy', '--expires', '30d']))
    const [pharmacyRun, patientRun] = await Promise.all([
      medchain(2, ['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', out('pharmacy-rx.json')]),
      medchain(1, ['record', 'get', report.recordId, '--as', 'patient', '--out', out('patient-report.json')])
    ])
    assert.equal(okJson<{ keySource: string }>(pharmacyRun).keySource, 'grant')
    assert.deepEqual(readFileSync(out('pharmacy-rx.json')), readFileSync(rxFile))
    okJson(patientRun)
    assert.deepEqual(readFileSync(out('patient-report.json')), readFileSync(reportFile))

    // the second pharmacy's grant expires: wait for a block past its expiry, then it is refused
    while (node(2).chain.head.timestamp < expiresAt) await waitForHeight(node(2), node(2).chain.head.height + 1)
    assert.equal(failedCode(await medchain(2, ['record', 'get', rx.recordId, '--as', 'pharmacy-2', '--out', out('expired-rx.json')])), 'ACCESS_CONSENT_EXPIRED')
    assert.ok(!existsSync(out('expired-rx.json')), 'a refused read writes no file')

    // the patient revokes the pharmacy's grant; the pharmacy is refused
    okJson(await medchain(1, ['tx', 'revoke', '--from', 'patient', '--grant', grant.grantId]))
    assert.equal(failedCode(await medchain(2, ['record', 'get', rx.recordId, '--as', 'pharmacy', '--out', out('revoked-rx.json')])), 'ACCESS_CONSENT_REVOKED')
    assert.ok(!existsSync(out('revoked-rx.json')), 'a refused read writes no file')

    // every read and refusal is on the patient's audit trail
    const trail = okJson<Array<{ action: string, actorName: string, result: string }>>(await medchain(3, ['query', 'audit', '--patient', 'patient', '--as', 'patient']))
    const reads = (actor: string): string[] => trail.filter((e) => e.action === 'AccessRecord' && e.actorName === actor).map((e) => e.result)
    assert.deepEqual(reads('Acme Insurance'), ['ACCESS_NO_CONSENT'])
    assert.deepEqual(reads('Second Pharmacy'), ['ACCESS_CONSENT_EXPIRED'])
    assert.deepEqual(reads('Main St Pharmacy'), ['OK', 'ACCESS_CONSENT_REVOKED'])

    // --- stop every node, then scan everything they hold and everything they said
    await Promise.all(nodes.map(async (n) => await n?.stop()))
    nodes.length = 0

    let entries = 0
    for (const { home } of summary.nodes) {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(HomePaths.data(home), { keyEncoding: 'view', valueEncoding: 'view' })
      try {
        for await (const [key, value] of db.iterator()) {
          entries++
          assert.deepEqual(found(key), [], `marker in a LevelDB key of ${home}`)
          assert.deepEqual(found(value), [], `marker in a LevelDB value of ${home}`)
        }
      } finally {
        await db.close()
      }
    }
    assert.ok(entries > 4 * 50, `scanned ${entries} LevelDB entries`)

    // every file of the devnet: blobs, serve logs, configs, keystore, and the raw LevelDB files too
    const files = filesUnder(devnet)
    for (const file of files) assert.deepEqual(found(readFileSync(file)), [], `marker in ${file}`)
    for (const { contentHash } of [rx, report]) {
      const holders = summary.nodes.filter(({ home }) => existsSync(join(HomePaths.blobs(home), contentHash.slice(0, 2), contentHash)))
      assert.ok(holders.length >= 2, `the ciphertext ${contentHash.slice(0, 12)}… is on ${holders.length} node(s)`)
    }
    assert.ok(files.some((f) => f.startsWith(HomePaths.blobs(summary.nodes[2]?.home as string)) && f.endsWith(rx.contentHash)), 'node 2 holds the prescription it served')

    // every gossip message
    for (const m of gossip) assert.deepEqual(found(m.data), [], `marker in a ${m.topic} message node ${m.node} ${m.direction === 'in' ? 'received' : 'sent'}`)
    const count = (topic: string, direction: string): number => gossip.filter((m) => m.topic === topic && m.direction === direction).length
    for (const topic of ['txs', 'consensus']) for (const direction of ['in', 'out']) assert.ok(count(topic, direction) > 4, `${count(topic, direction)} ${topic} messages ${direction}`)
    assert.ok(gossip.length > 200, `captured ${gossip.length} gossip messages`)
    const anchors = gossip.filter((m) => m.topic === 'txs').flatMap((m) => decodeTxBatch(m.data)).filter((tx) => tx.payload.type === TxType.AnchorRecord)
    assert.ok(anchors.length >= 2, `the capture sees the AnchorRecord transactions (${anchors.length})`)

    t.diagnostic(`scanned ${entries} LevelDB entries, ${files.length} files, ${gossip.length} gossip messages (${anchors.length} AnchorRecord txs among them)`)

    // positive control: the same scan finds the markers in the decrypted files
    assert.deepEqual(found(readFileSync(out('pharmacy-rx.json'))), [markers[0]])
    assert.deepEqual(found(readFileSync(out('patient-report.json'))), [markers[1]])
    assert.equal(markers.length, 2)
  })
})
