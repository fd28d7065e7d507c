/**
 * The proof methods (signed queries, see auth.ts): bundles a patient verifies offline with
 * `medchain verify` (src/proof). Spread into METHODS by methods.ts.
 *
 * | method          | params                              | result                                                        |
 * | --------------- | ----------------------------------- | ------------------------------------------------------------- |
 * | proof_getRecord | {recordId, patient, grantee?, auth} | RecordProof (src/proof/types.ts), or null for an unknown record |
 * | proof_getTx     | {hash, patient, auth}               | TxProof, or null when the tx is not on the patient's trail as the reader sees it |
 *
 * proof_getRecord refuses (QUERY_NOT_AUTHORISED) a record of another patient, and a reader other
 * than the patient who may not read the record; such a reader gets only its own consent entries.
 */
import { decodeAuditEntry, checkRecordAccess, getRecord } from '../contracts/index.js'
import { equalBytes } from '../crypto/bytes.js'
import { buildRecordProof, buildTxProof } from '../proof/build.js'
import { readerPurposes, type ReaderScope } from './auth.js'
import { queryError } from './errors.js'
import { auditVisibleTo, method, type MethodSpec } from './methodSpec.js'
import { readHex, readOptionalHex } from './params.js'

export const PROOF_METHODS: Readonly<Record<string, MethodSpec<unknown>>> = {
  proof_getRecord: method({
    params: ['recordId', 'patient', 'grantee'],
    parse: (p) => ({
      recordId: readHex(p, 'recordId', { length: 32 }),
      patient: readHex(p, 'patient', { length: 32 }),
      grantee: readOptionalHex(p, 'grantee', 32)
    }),
    patientOf: (a) => a.patient,
    run: async ({ recordId, patient, grantee }, { rpc }, scopeArg) => {
      const scope = scopeArg as ReaderScope
      const { chain } = rpc
      const record = getRecord(chain.stateView, recordId)
      if (record === undefined) return null
      if (!equalBytes(record.patient, patient)) {
        throw queryError('QUERY_NOT_AUTHORISED', 'The record belongs to another patient; ask for a proof with that record\'s own patient.')
      }
      if (scope.ground === 'patient') return await buildRecordProof(chain, recordId, grantee === undefined ? {} : { grantee })
      const mayRead = readerPurposes(scope).some((purpose) => checkRecordAccess(chain.stateView, scope.requester, recordId, purpose, chain.head.timestamp).code === 'OK')
      if (!mayRead) throw queryError('QUERY_NOT_AUTHORISED', 'Your consent does not cover this record; ask the patient for a grant that does.')
      if (grantee !== undefined && !equalBytes(grantee, scope.requester)) {
        throw queryError('QUERY_NOT_AUTHORISED', 'Only the patient may ask for another grantee\'s consent entries; leave out "grantee" or name yourself.')
      }
      return await buildRecordProof(chain, recordId, { grantee: scope.requester, grantees: [scope.requester] })
    }
  }),

  proof_getTx: method({
    params: ['hash', 'patient'],
    parse: (p) => ({ hash: readHex(p, 'hash', { length: 32 }), patient: readHex(p, 'patient', { length: 32 }) }),
    patientOf: (a) => a.patient,
    run: async ({ hash, patient }, { rpc }, scope) => {
      for (const { entry } of await rpc.chain.listAuditByPatient(patient, { limit: Number.POSITIVE_INFINITY })) {
        const e = decodeAuditEntry(entry)
        if (equalBytes(e.txHash, hash) && auditVisibleTo(scope as ReaderScope, e)) return await buildTxProof(rpc.chain, hash)
      }
      return null
    }
  })
}
