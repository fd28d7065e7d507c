/**
 * The contract's state keys: the ONE place that spells them. Every value is a canonical tuple
 * (see stateView.ts). Keys are short ASCII strings; public keys and ids are lower-case hex,
 * heights 16 hex digits (so that keys of one prefix sort by height).
 *
 * | key                                              | value                                           | written by                         |
 * | ------------------------------------------------ | ----------------------------------------------- | ---------------------------------- |
 * | `entity/<pubkey>`                                | identity incl. its tx nonce                     | genesis, registry, every tx (nonce) |
 * | `record/<recordId>`                              | record metadata incl. key envelopes             | AnchorRecord                       |
 * | `grant/<grantId>`                                | consent incl. its key envelopes                 | Grant, Revoke                      |
 * | `grants/<patient>/<grantee>`                     | ids of the pair's live (or not yet pruned) grants | Grant                              |
 * | `emergency/<clinician>/<patient>`                | the break-glass window                          | EmergencyAccess                    |
 * | `keyshare/<recordId>/<recipient>`                | a record's data key wrapped for one recipient   | ShareKeys                          |
 * | `proposal/<proposalId>`                          | governance proposal and its votes               | RegisterHospital, ProposeValidator, Vote, endBlock |
 * | `validators`                                     | the validator set of the next block             | genesis, endBlock                  |
 * | `validators/pending/<height>`                    | validator changes effective at that height      | ProposeValidator, Vote, endBlock   |
 * | `validators/liveness`                            | last height each validator signed a commit      | endBlock (from the block's lastCommit) |
 * | `evidence/<validator>/<height>/<round>/<type>`   | a recorded double-sign                          | Evidence                           |
 */
import { toHex } from '../crypto/bytes.js'

function heightKey (height: number): string {
  return height.toString(16).padStart(16, '0')
}

/**
 * Computed each time: a WeakMap cache by the key bytes' instance costs more than it saves (each
 * decoded transaction brings a new `from` array, and WeakMap entries slow V8's scavenges).
 */
function entityKey (publicKey: Uint8Array): string {
  return `entity/${toHex(publicKey)}`
}

export const StateKeys = {
  entity: entityKey,
  record: (recordId: Uint8Array): string => `record/${toHex(recordId)}`,
  grant: (grantId: Uint8Array): string => `grant/${toHex(grantId)}`,
  grantIndex: (patient: Uint8Array, grantee: Uint8Array): string => `grants/${toHex(patient)}/${toHex(grantee)}`,
  emergencyWindow: (clinician: Uint8Array, patient: Uint8Array): string => `emergency/${toHex(clinician)}/${toHex(patient)}`,
  keyShare: (recordId: Uint8Array, recipient: Uint8Array): string => `keyshare/${toHex(recordId)}/${toHex(recipient)}`,
  proposal: (proposalId: Uint8Array): string => `proposal/${toHex(proposalId)}`,
  validatorSet: 'validators',
  pendingValidatorChanges: (effectiveHeight: number): string => `validators/pending/${heightKey(effectiveHeight)}`,
  validatorLiveness: 'validators/liveness',
  evidence: (validator: Uint8Array, height: number, round: number, voteType: number): string =>
    `evidence/${toHex(validator)}/${heightKey(height)}/${round}/${voteType}`
} as const
