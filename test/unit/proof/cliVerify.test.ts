/**
 * `medchain verify`, `medchain query proof` and `medchain query audit --verify` as a user runs them:
 * the CLI as child processes against an in-process chain (with a validator-set change) and its RPC.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { genesisToJson } from '../../../src/types/genesis.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { Keystore } from '../../../src/keystore/store.js'
import type { RecordProof } from '../../../src/proof/types.js'
import { makeGenesis } from '../../utils/factories.js'
import { runCli, type CliRun } from '../../utils/cli.js'
import { hex, keys } from '../rpc/fixture.js'
import { openProofChain, type ProofFixture } from './fixture.js'

const PASSPHRASE = 'pw'

describe('CLI: medchain verify, query proof, query audit --verify', () => {
  let f: ProofFixture
  let home: string
  let url: string
  const medchain = async (args: string[]): Promise<CliRun> =>
    await runCli(['--home', home, ...args, ...(args.includes('query') ? ['--rpc', url] : [])], { MEDCHAIN_PASSPHRASE: PASSPHRASE })

  before(async () => {
    f = await openProofChain({ rpc: true, realTime: true })
    url = `http://127.0.0.1:${f.server?.port ?? 0}/`
    home = mkdtempSync(join(tmpdir(), 'medchain-proof-cli-'))
    writeFileSync(join(home, 'genesis.json'), JSON.stringify(genesisToJson(f.h.genesis)))
    const seed = new Uint8Array(createHash('sha256').update('medchain-test-key/rpc/patient').digest())
    new Keystore(join(home, 'keystore'), { scrypt: { n: 1024, r: 8, p: 1 } }).import('patient', seed, PASSPHRASE)
  })
  after(async () => {
    await f.close()
    rmSync(home, { recursive: true, force: true })
  })

  it('query proof writes a bundle that verify accepts, printing what it proves', async () => {
    const out = join(home, 'rx.proof.json')
    const fetched = await medchain(['--json', 'query', 'proof', '--record', toHex(f.world.records.rx), '--patient', 'patient', '--as', 'patient', '--grantee', hex(keys.insurer), '--out', out])
    assert.equal(fetched.code, 0, fetched.stderr)
    assert.equal((JSON.parse(fetched.stdout) as { out: string }).out, out)

    const text = await medchain(['verify', out])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^VERIFIED record proof/)
    assert.ok(text.stdout.includes(toHex(f.world.records.rx)))
    assert.ok(text.stdout.includes('MedicationRequest'))
    assert.match(text.stdout, /signed by 2 of 2 voting power \(quorum 2\)/)
    assert.match(text.stdout, /proven to hold no consent/)

    const json = await medchain(['--json', 'verify', out])
    assert.equal(json.code, 0, json.stderr)
    const summary = JSON.parse(json.stdout) as { verified: boolean, record: { patient: string }, consents: unknown[] }
    assert.equal(summary.verified, true)
    assert.equal(summary.record.patient, hex(keys.patient))
    assert.equal(summary.consents.length, 3)

    // tampered: one byte of the tx → exit 1 with the code
    const bundle = JSON.parse(readFileSync(out, 'utf8')) as RecordProof
    const tx = fromHex(bundle.anchor.tx)
    tx[tx.length - 1] = (tx[tx.length - 1] as number) ^ 1
    bundle.anchor.tx = toHex(tx)
    const bad = join(home, 'bad.proof.json')
    writeFileSync(bad, JSON.stringify(bundle))
    const refused = await medchain(['--json', 'verify', bad])
    assert.equal(refused.code, 1)
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'PROOF_TX_INCLUSION')
    assert.match(refused.stderr, /NOT VERIFIED \(PROOF_TX_INCLUSION\)/)

    // another genesis → exit 1
    const otherGenesis = join(home, 'other-genesis.json')
    writeFileSync(otherGenesis, JSON.stringify(genesisToJson(makeGenesis(['hospital-z']))))
    const wrong = await medchain(['verify', out, '--genesis', otherGenesis])
    assert.equal(wrong.code, 1)
    assert.match(wrong.stderr, /PROOF_VALIDATOR_HISTORY/)
  })

  it('query audit --verify proves every line (csv gets a verified column)', async () => {
    const run = await medchain(['query', 'audit', '--patient', 'patient', '--as', 'patient', '--verify', '--format', 'csv'])
    assert.equal(run.code, 0, run.stderr)
    const lines = run.stdout.trim().split('\n')
    assert.ok((lines[0] as string).endsWith(',verified'))
    assert.equal(lines.length, 9, 'eight audit lines')
    for (const line of lines.slice(1)) assert.ok(line.endsWith(',true'), line)
  })

  it('verify --help shows an example', async () => {
    const help = await medchain(['verify', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Examples:/)
  })
})
