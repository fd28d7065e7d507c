/**
 * The genesis file: the chain id, the genesis time, the founding hospitals and the first validator
 * set. Stored as JSON with hex keys (`genesis.json` in a node home); every node of one chain must
 * hold the same file, which `genesisHash` identifies.
 */
import { fromHex, toHex } from '../crypto/bytes.js'
import { validatePublicKeyStrict } from '../crypto/ed25519.js'
import { sha256 } from '../crypto/hash.js'
import { MedchainError } from '../util/errors.js'
import { MAX_CHAIN_ID_LENGTH, MAX_NAME_LENGTH, MAX_VALIDATORS } from './limits.js'
import { makeValidatorSet, type Validator } from './validatorSet.js'

export interface GenesisHospital { publicKey: Uint8Array, name: string }

export interface Genesis {
  chainId: string
  /** Milliseconds since the Unix epoch; block 1's timestamp must be later. */
  genesisTime: number
  hospitals: GenesisHospital[]
  validators: Validator[]
}

export interface GenesisJson {
  chainId: string
  genesisTime: string
  hospitals: Array<{ publicKey: string, name: string }>
  validators: Array<{ publicKey: string, power: number, hospital: string }>
}

export type GenesisErrorType = { code: 'GENESIS_INVALID', reason: string }
export class GenesisError extends MedchainError<GenesisErrorType> {}

function invalid (reason: string): GenesisError {
  return new GenesisError({ code: 'GENESIS_INVALID', reason }, `The genesis file is invalid: ${reason}; regenerate it with \`medchain testnet\` or fix it by hand.`)
}

const CHAIN_ID_RE = /^[a-z0-9][a-z0-9._-]*$/

/** Checks the rules every genesis must satisfy; throws GenesisError naming the first broken one. */
export function validateGenesis (g: Genesis): void {
  if (g.chainId.length === 0 || g.chainId.length > MAX_CHAIN_ID_LENGTH || !CHAIN_ID_RE.test(g.chainId)) throw invalid('chainId must be 1-64 characters of a-z, 0-9, ".", "_" or "-"')
  if (!Number.isSafeInteger(g.genesisTime) || g.genesisTime < 0) throw invalid('genesisTime must be milliseconds since the epoch')
  if (g.hospitals.length === 0) throw invalid('at least one hospital is needed')
  if (g.validators.length === 0 || g.validators.length > MAX_VALIDATORS) throw invalid(`between 1 and ${MAX_VALIDATORS} validators are needed`)
  const hospitals = new Set<string>()
  for (const h of g.hospitals) {
    try { validatePublicKeyStrict(h.publicKey) } catch { throw invalid(`hospital "${h.name}" has an unusable public key`) }
    if (h.name.length === 0 || h.name.length > MAX_NAME_LENGTH) throw invalid('hospital names must be 1-128 characters')
    const id = toHex(h.publicKey)
    if (hospitals.has(id)) throw invalid(`hospital ${id} is listed twice`)
    hospitals.add(id)
  }
  for (const v of g.validators) {
    try { validatePublicKeyStrict(v.publicKey) } catch { throw invalid(`validator ${toHex(v.publicKey)} has an unusable public key`) }
    if (!hospitals.has(toHex(v.hospital))) throw invalid(`validator ${toHex(v.publicKey)} names hospital ${toHex(v.hospital)}, which is not in the genesis`)
    if (hospitals.has(toHex(v.publicKey))) throw invalid('a validator key must differ from every hospital key')
    if (!Number.isInteger(v.power) || v.power < 1 || v.power > 0xffff) throw invalid('validator power must be an integer from 1 to 65535')
  }
  try { makeValidatorSet(g.validators) } catch (err) { throw invalid((err as Error).message) }
}

export function genesisToJson (g: Genesis): GenesisJson {
  return {
    chainId: g.chainId,
    genesisTime: new Date(g.genesisTime).toISOString(),
    hospitals: g.hospitals.map((h) => ({ publicKey: toHex(h.publicKey), name: h.name })),
    validators: g.validators.map((v) => ({ publicKey: toHex(v.publicKey), power: v.power, hospital: toHex(v.hospital) }))
  }
}

/** Parses and validates a genesis document (as read from genesis.json). */
export function genesisFromJson (json: unknown): Genesis {
  const j = json as Partial<GenesisJson> | null
  if (j === null || typeof j !== 'object') throw invalid('it is not a JSON object')
  if (typeof j.chainId !== 'string') throw invalid('chainId is missing')
  if (typeof j.genesisTime !== 'string' || Number.isNaN(Date.parse(j.genesisTime))) throw invalid('genesisTime must be an ISO 8601 time')
  if (!Array.isArray(j.hospitals) || !Array.isArray(j.validators)) throw invalid('hospitals and validators must be lists')
  const key = (hex: unknown, what: string): Uint8Array => {
    if (typeof hex !== 'string' || hex.length !== 64) throw invalid(`${what} must be 64 hex digits`)
    try { return fromHex(hex) } catch { throw invalid(`${what} must be 64 hex digits`) }
  }
  const g: Genesis = {
    chainId: j.chainId,
    genesisTime: Date.parse(j.genesisTime),
    hospitals: j.hospitals.map((h, i) => ({ publicKey: key(h?.publicKey, `hospitals[${i}].publicKey`), name: String(h?.name ?? '') })),
    validators: j.validators.map((v, i) => ({ publicKey: key(v?.publicKey, `validators[${i}].publicKey`), power: Number(v?.power), hospital: key(v?.hospital, `validators[${i}].hospital`) }))
  }
  validateGenesis(g)
  return g
}

/** Identifies a genesis: sha256 of its canonical JSON. */
export function genesisHash (g: Genesis): Uint8Array {
  return sha256(new TextEncoder().encode(JSON.stringify(genesisToJson(g))))
}
