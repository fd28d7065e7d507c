import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { CliContext } from '../../../src/cli/rpcClient.js'
import { listAllRecords, RECORDS_PAGE, type RecordJson } from '../../../src/cli/record.js'
import { makeKeys, TEST_CHAIN_ID } from '../../utils/factories.js'

const patient = makeKeys('paging/patient')

/** A node that holds `count` records and answers records_listByPatient a page at a time, as the RPC does. */
function pagingNode (count: number): { ctx: CliContext, calls: Array<Record<string, unknown>> } {
  const ids = Array.from({ length: count }, (_, i) => i.toString(16).padStart(64, '0'))
  const calls: Array<Record<string, unknown>> = []
  const client = {
    call: async (method: string, params: Record<string, unknown>): Promise<unknown> => {
      assert.equal(method, 'records_listByPatient')
      calls.push(params)
      const start = params.after === undefined ? 0 : ids.indexOf(params.after as string) + 1
      return ids.slice(start, start + (params.limit as number)).map((recordId) => ({ recordId } as unknown as RecordJson))
    }
  }
  return { ctx: { client } as unknown as CliContext, calls }
}

describe('listAllRecords: every page of records_listByPatient', () => {
  for (const count of [0, 1, RECORDS_PAGE - 1, RECORDS_PAGE, 2 * RECORDS_PAGE + 500]) {
    it(`${count} records: all of them, in order, each page signed and starting after the last record of the one before`, async () => {
      const { ctx, calls } = pagingNode(count)
      const all = await listAllRecords(ctx, patient, TEST_CHAIN_ID, 'ab'.repeat(32))
      assert.equal(all.length, count)
      assert.deepEqual(all.map((r) => r.recordId), Array.from({ length: count }, (_, i) => i.toString(16).padStart(64, '0')))
      assert.equal(calls.length, Math.floor(count / RECORDS_PAGE) + 1, 'one call per page, and one more when the last page was full')
      calls.forEach((params, i) => {
        assert.equal(params.limit, RECORDS_PAGE)
        assert.equal(params.after, i === 0 ? undefined : all[i * RECORDS_PAGE - 1]?.recordId)
        assert.equal(typeof params.auth, 'object', 'every page is a signed query')
      })
    })
  }
})
