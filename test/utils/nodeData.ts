/**
 * Node homes with chain data on disk for the tests of `medchain doctor`: a home (genesis.json,
 * data/) whose chain holds a few blocks (a clinician registered, a patient enrolled, records
 * anchored), imported the way a validator network would (test/utils/chainHarness.ts), and the
 * direct LevelDB access the tests damage it with and compare it by.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { toHex } from '../../src/crypto/bytes.js'
import { BLOCK_STORE_DIR } from '../../src/chain/store/blockStore.js'
import { genesisToJson, type Genesis } from '../../src/types/genesis.js'
import { ClinicianRole, TxType, type Tx } from '../../src/types/tx.js'
import type { Block } from '../../src/types/block.js'
import { ChainHarness } from './chainHarness.js'
import { bytes32, makeGenesis, makeKeys, makeTx } from './factories.js'

const hospital = makeKeys('hospital-a')
const doctor = makeKeys('doctor-1')
const patient = makeKeys('patient-1')

/** doctor-1 anchoring a record labelled `label` for patient-1 (doctor-1 registered and patient-1 enrolled first). */
export function anchor (nonce: number, label: string): Tx {
  return makeTx(doctor, nonce, {
    type: TxType.AnchorRecord,
    patient: patient.publicKey,
    resourceType: 'Observation',
    contentHash: bytes32(label),
    size: 1234,
    blobRef: `blob:${label}`,
    envelopes: [{ recipient: patient.publicKey, wrappedKey: new Uint8Array(48) }]
  })
}

/** The transactions of blocks 1-4: register a clinician, enrol a patient, anchor two records, anchor one more. */
export const DEMO_BLOCKS: ReadonlyArray<() => Tx[]> = [
  () => [makeTx(hospital, 0, { type: TxType.RegisterClinician, publicKey: doctor.publicKey, name: 'Dr. One', role: ClinicianRole.Doctor })],
  () => [makeTx(doctor, 0, { type: TxType.EnrolPatient, publicKey: patient.publicKey })],
  () => [anchor(1, 'record-1'), anchor(2, 'record-2')],
  () => [anchor(3, 'record-3')]
]

export interface NodeHome {
  home: string
  /** home/data: the state database; the block store is in its BLOCK_STORE_DIR. */
  dataDir: string
  genesis: Genesis
  /** The committed blocks, by height - 1. */
  blocks: Block[]
  /** The head's state root as the chain computed it. */
  stateRoot: Uint8Array
  /** Removes the home. */
  remove: () => void
}

/**
 * A home holding a chain of `blocks` (at most DEMO_BLOCKS.length) blocks, the chain closed.
 * Every block is imported with its certificate, except the last when `headCertificate` is false.
 */
export async function makeNodeHome (opts: { blocks?: number, headCertificate?: boolean } = {}): Promise<NodeHome> {
  const count = opts.blocks ?? DEMO_BLOCKS.length
  const home = mkdtempSync(join(tmpdir(), 'medchain-doctor-'))
  const genesis = makeGenesis(['hospital-a'])
  writeFileSync(join(home, 'genesis.json'), JSON.stringify(genesisToJson(genesis), null, 2))
  const dataDir = join(home, 'data')
  const h = await ChainHarness.open({ dir: dataDir, genesis })
  const blocks: Block[] = []
  try {
    for (let i = 0; i < count; i++) {
      const txs = (DEMO_BLOCKS[i] as () => Tx[])()
      if (i === count - 1 && opts.headCertificate === false) {
        const built = await h.build(txs)
        await h.chain.importBlock(built.block)
        blocks.push(built.block)
      } else {
        blocks.push((await h.commit(txs)).block)
      }
    }
    return { home, dataDir, genesis, blocks, stateRoot: h.chain.stateRoot, remove: () => { rmSync(home, { recursive: true, force: true }) } }
  } finally {
    await h.close()
  }
}

/** Runs `fn` on a LevelDB database at `dir` (a chain's state database, or its block store), closed afterwards. */
export async function withLevel<T> (dir: string, fn: (db: Level<Uint8Array, Uint8Array>) => Promise<T>): Promise<T> {
  const db = new Level<Uint8Array, Uint8Array>(dir, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open({ createIfMissing: false })
  try {
    return await fn(db)
  } finally {
    await db.close()
  }
}

/** Every key and value of a home's two databases, as hex: what the chain stores, whatever LevelDB's files look like. */
export async function dumpNodeData (dataDir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {}
  for (const [name, dir] of [['state', dataDir], ['blocks', join(dataDir, BLOCK_STORE_DIR)]] as const) {
    await withLevel(dir, async (db) => {
      for await (const [key, value] of db.iterator()) out[`${name}:${toHex(key)}`] = toHex(value)
    })
  }
  return out
}

/**
 * Every file under `dir` with its size, modification time and bytes (hex): to show that nothing
 * touched it. A LOCK file is only stat'ed: closing a descriptor of a file drops every fcntl lock
 * this process holds on it, so reading it would release the lock of a database this process has open.
 */
export function snapshotFiles (dir: string): Record<string, string> {
  const out: Record<string, string> = {}
  const walk = (d: string, prefix: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name)
      const st = statSync(path)
      if (st.isDirectory()) walk(path, `${prefix}${name}/`)
      else out[`${prefix}${name}`] = `${st.size} ${st.mtimeMs} ${name === 'LOCK' ? '' : readFileSync(path).toString('hex')}`
    }
  }
  walk(dir, '')
  return out
}
