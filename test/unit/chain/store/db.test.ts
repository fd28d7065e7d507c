import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeBlockBatch, type BatchOp, type BlockBatch, type ChainDb } from '../../../../src/chain/store/db.js'

/** A ChainDb that records each batch it writes (its operations and sync flag) in a shared log. */
function recordingDb (name: string, log: string[]): ChainDb {
  const unused = (): never => { throw new Error('not used') }
  return {
    status: 'open',
    open: async () => {},
    close: async () => {},
    get: unused,
    iterator: unused,
    keys: unused,
    values: unused,
    batch: () => {
      const ops: string[] = []
      return {
        put: (key: Uint8Array) => ops.push(`put ${key[0] as number}`),
        del: (key: Uint8Array) => ops.push(`del ${key[0] as number}`),
        write: async ({ sync }) => { log.push(`${name} [${ops.join(', ')}] sync=${String(sync)}`) }
      }
    }
  }
}

const put = (tag: number): BatchOp => ({ type: 'put', key: new Uint8Array([tag]), value: new Uint8Array() })
const batch: BlockBatch = { blockOps: [put(2), put(5)], stateOps: [put(3), { type: 'del', key: new Uint8Array([7]) }, put(1)] }

void describe('writeBlockBatch (db.ts)', () => {
  void it('writes the block store\'s batch first, then the state\'s, each with the sync flag', async () => {
    const log: string[] = []
    await writeBlockBatch(recordingDb('state', log), recordingDb('blocks', log), batch, true)
    assert.deepEqual(log, ['blocks [put 2, put 5] sync=true', 'state [put 3, del 7, put 1] sync=true'])
  })

  void it('writes one batch, block store operations first, when both are one database', async () => {
    const log: string[] = []
    const db = recordingDb('one', log)
    await writeBlockBatch(db, db, batch, false)
    assert.deepEqual(log, ['one [put 2, put 5, put 3, del 7, put 1] sync=false'])
  })
})
