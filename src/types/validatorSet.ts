/**
 * The validator set: hospital validators with voting power. Sorted by public key so that its
 * encoding (and hash) does not depend on insertion order.
 *
 * Wire: [[publicKey bytes32, power u32, hospital bytes32], ...] sorted by publicKey.
 */
import { compareBytes, equalBytes } from '../crypto/bytes.js'
import { Domain, hashWithDomain } from '../crypto/hash.js'
import { PUBLIC_KEY_LENGTH } from '../crypto/ed25519.js'
import { decodeCanonical, encodeCanonical, readBytes, readList, readTuple, readU32, wrongShape } from './codec.js'
import { MAX_VALIDATORS } from './limits.js'

export interface Validator {
  publicKey: Uint8Array
  power: number
  /** The hospital that operates this validator. */
  hospital: Uint8Array
}

export interface ValidatorSet {
  validators: readonly Validator[]
  totalPower: number
}

export function makeValidatorSet (validators: Validator[]): ValidatorSet {
  const sorted = [...validators].sort((a, b) => compareBytes(a.publicKey, b.publicKey))
  for (let i = 1; i < sorted.length; i++) {
    if (equalBytes((sorted[i] as Validator).publicKey, (sorted[i - 1] as Validator).publicKey)) throw new TypeError('duplicate validator key')
  }
  let totalPower = 0
  for (const v of sorted) {
    if (!Number.isInteger(v.power) || v.power <= 0) throw new TypeError('validator power must be a positive integer')
    totalPower += v.power
  }
  return { validators: sorted, totalPower }
}

/** Smallest voting power that is more than 2/3 of the total. */
export function quorumPower (totalPower: number): number {
  return Math.floor((totalPower * 2) / 3) + 1
}

export function findValidator (set: ValidatorSet, publicKey: Uint8Array): Validator | undefined {
  return set.validators.find((v) => equalBytes(v.publicKey, publicKey))
}

/** Deterministic round-robin proposer for (height, round). */
export function proposerFor (set: ValidatorSet, height: number, round: number): Validator {
  const n = set.validators.length
  if (n === 0) throw new RangeError('empty validator set')
  return set.validators[(height + round) % n] as Validator
}

export function encodeValidatorSet (set: ValidatorSet): Uint8Array {
  return encodeCanonical(set.validators.map((v) => [v.publicKey, v.power, v.hospital]))
}

export function decodeValidatorSet (bytes: Uint8Array): ValidatorSet {
  const list = readList(decodeCanonical(bytes, { maxBytes: MAX_VALIDATORS * 80 + 8, maxItems: MAX_VALIDATORS, maxDepth: 2 }), MAX_VALIDATORS, 'validators')
  const validators = list.map((w) => {
    const t = readTuple(w, 3, 'validators[]')
    return { publicKey: readBytes(t[0], 'validators[].publicKey', PUBLIC_KEY_LENGTH), power: readU32(t[1], 'validators[].power'), hospital: readBytes(t[2], 'validators[].hospital', PUBLIC_KEY_LENGTH) }
  })
  try {
    const set = makeValidatorSet(validators)
    if (!equalBytes(encodeValidatorSet(set), bytes)) throw wrongShape('validators', 'must be sorted by public key')
    return set
  } catch (err) {
    if (err instanceof TypeError) throw wrongShape('validators', err.message)
    throw err
  }
}

export function validatorSetHash (chainId: string, set: ValidatorSet): Uint8Array {
  return hashWithDomain(Domain.validators, chainId, encodeValidatorSet(set))
}
