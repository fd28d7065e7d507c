import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { ed25519 } from '@noble/curves/ed25519.js'
import { genesisFromJson, genesisHash, genesisToJson, validateGenesis, GenesisError, type Genesis, type GenesisJson } from '../../../src/types/genesis.js'
import { SMALL_ORDER_KEYS_HEX } from '../../../src/crypto/ed25519.js'
import { fromHex, toHex } from '../../../src/crypto/bytes.js'
import { makeGenesis, makeKeys, GENESIS_TIME } from '../../utils/factories.js'

function expectInvalid (fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof GenesisError, `expected GenesisError, got ${String(err)}`)
    assert.equal(err.code, 'GENESIS_INVALID')
    return true
  })
}

const smallOrderKey = fromHex(SMALL_ORDER_KEYS_HEX[4] as string)
const mixedOrderKey = ed25519.Point.fromBytes(makeKeys('mixed').publicKey).add(ed25519.Point.fromBytes(smallOrderKey)).toBytes()
const nonCanonicalKey = fromHex('eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f')

void describe('genesis', () => {
  void it('a factory genesis with 1 and 4 hospitals is valid', () => {
    validateGenesis(makeGenesis())
    validateGenesis(makeGenesis(['a', 'b', 'c', 'd']))
  })

  void it('genesisFromJson(genesisToJson(g)) equals g, also through JSON text', () => {
    for (const g of [makeGenesis(), makeGenesis(['a', 'b', 'c', 'd']), { ...makeGenesis(['x']), genesisTime: GENESIS_TIME + 123 }]) {
      assert.deepEqual(genesisFromJson(genesisToJson(g)), g)
      assert.deepEqual(genesisFromJson(JSON.parse(JSON.stringify(genesisToJson(g))) as unknown), g)
    }
  })

  void it('the JSON form uses hex keys and an ISO time', () => {
    const g = makeGenesis(['a'])
    const json = genesisToJson(g)
    assert.equal(json.genesisTime, '2026-01-01T00:00:00.000Z')
    assert.equal(json.hospitals[0]?.publicKey, toHex(makeKeys('a').publicKey))
    assert.equal(json.validators[0]?.hospital, toHex(makeKeys('a').publicKey))
  })

  void it('genesisHash is stable and changes with the content', () => {
    const g = makeGenesis(['a', 'b'])
    const h = toHex(genesisHash(g))
    assert.equal(toHex(genesisHash(genesisFromJson(genesisToJson(g)))), h)
    const changed: Genesis[] = [
      { ...g, chainId: 'other' },
      { ...g, genesisTime: g.genesisTime + 1 },
      { ...g, hospitals: g.hospitals.slice(0, 1), validators: g.validators.slice(0, 1) },
      { ...g, validators: g.validators.map((v) => ({ ...v, power: 2 })) }
    ]
    for (const c of changed) assert.notEqual(toHex(genesisHash(c)), h)
  })

  void describe('validateGenesis refusals → GENESIS_INVALID', () => {
    const base = (): Genesis => makeGenesis(['a', 'b'])
    const rows: Array<[string, (g: Genesis) => Genesis]> = [
      ['empty chain id', (g) => ({ ...g, chainId: '' })],
      ['upper-case chain id', (g) => ({ ...g, chainId: 'Medchain' })],
      ['chain id with a space', (g) => ({ ...g, chainId: 'med chain' })],
      ['chain id starting with "-"', (g) => ({ ...g, chainId: '-medchain' })],
      ['chain id of 65 characters', (g) => ({ ...g, chainId: 'a'.repeat(65) })],
      ['negative genesis time', (g) => ({ ...g, genesisTime: -1 })],
      ['fractional genesis time', (g) => ({ ...g, genesisTime: 1.5 })],
      ['no hospitals', (g) => ({ ...g, hospitals: [], validators: [] })],
      ['no validators', (g) => ({ ...g, validators: [] })],
      ['257 validators', (g) => ({ ...g, validators: Array.from({ length: 257 }, (_, i) => ({ publicKey: makeKeys(`v${i}`).publicKey, power: 1, hospital: g.hospitals[0]?.publicKey as Uint8Array })) })],
      ['duplicate hospital', (g) => ({ ...g, hospitals: [...g.hospitals, { publicKey: g.hospitals[0]?.publicKey as Uint8Array, name: 'again' }] })],
      ['empty hospital name', (g) => ({ ...g, hospitals: g.hospitals.map((h, i) => i === 0 ? { ...h, name: '' } : h) })],
      ['hospital name of 129 characters', (g) => ({ ...g, hospitals: g.hospitals.map((h, i) => i === 0 ? { ...h, name: 'n'.repeat(129) } : h) })],
      ['small-order hospital key', (g) => ({ ...g, hospitals: [...g.hospitals, { publicKey: smallOrderKey, name: 'evil' }] })],
      ['non-canonical hospital key', (g) => ({ ...g, hospitals: [...g.hospitals, { publicKey: nonCanonicalKey, name: 'evil' }] })],
      ['hospital key of 31 bytes', (g) => ({ ...g, hospitals: [...g.hospitals, { publicKey: new Uint8Array(31), name: 'short' }] })],
      ['validator of an unknown hospital', (g) => ({ ...g, validators: [...g.validators, { publicKey: makeKeys('v-x').publicKey, power: 1, hospital: makeKeys('unknown').publicKey }] })],
      ['small-order validator key', (g) => ({ ...g, validators: [...g.validators, { publicKey: smallOrderKey, power: 1, hospital: g.hospitals[0]?.publicKey as Uint8Array }] })],
      ['mixed-order validator key', (g) => ({ ...g, validators: [...g.validators, { publicKey: mixedOrderKey, power: 1, hospital: g.hospitals[0]?.publicKey as Uint8Array }] })],
      ['validator key equal to a hospital key', (g) => ({ ...g, validators: [...g.validators, { publicKey: g.hospitals[1]?.publicKey as Uint8Array, power: 1, hospital: g.hospitals[0]?.publicKey as Uint8Array }] })],
      ['duplicate validator key', (g) => ({ ...g, validators: [...g.validators, { ...(g.validators[0] as Genesis['validators'][number]) }] })],
      ['power 0', (g) => ({ ...g, validators: g.validators.map((v, i) => i === 0 ? { ...v, power: 0 } : v) })],
      ['power 65536', (g) => ({ ...g, validators: g.validators.map((v, i) => i === 0 ? { ...v, power: 65536 } : v) })],
      ['power 1.5', (g) => ({ ...g, validators: g.validators.map((v, i) => i === 0 ? { ...v, power: 1.5 } : v) })]
    ]
    void it('the unbroken genesis passes (and power 65535 and a 64-character chain id are fine)', () => {
      validateGenesis(base())
      validateGenesis({ ...base(), chainId: 'a'.repeat(64), validators: base().validators.map((v) => ({ ...v, power: 65535 })) })
    })
    for (const [name, breakIt] of rows) {
      void it(name, () => {
        const g = breakIt(base())
        expectInvalid(() => validateGenesis(g))
      })
    }
  })

  void describe('genesisFromJson refusals → GENESIS_INVALID', () => {
    const json = (): GenesisJson => genesisToJson(makeGenesis(['a', 'b']))
    const rows: Array<[string, () => unknown]> = [
      ['null', () => null],
      ['a string', () => 'genesis'],
      ['missing chain id', () => ({ ...json(), chainId: undefined })],
      ['bad time', () => ({ ...json(), genesisTime: 'yesterday' })],
      ['time as a number', () => ({ ...json(), genesisTime: GENESIS_TIME })],
      ['hospitals not a list', () => ({ ...json(), hospitals: {} })],
      ['validators missing', () => ({ ...json(), validators: undefined })],
      ['hospital key not hex', () => ({ ...json(), hospitals: json().hospitals.map((h, i) => i === 0 ? { ...h, publicKey: 'z'.repeat(64) } : h) })],
      ['hospital key of 62 hex digits', () => ({ ...json(), hospitals: json().hospitals.map((h, i) => i === 0 ? { ...h, publicKey: h.publicKey.slice(2) } : h) })],
      ['validator hospital missing', () => ({ ...json(), validators: json().validators.map((v) => ({ ...v, hospital: undefined })) })],
      ['validator power as text', () => ({ ...json(), validators: json().validators.map((v) => ({ ...v, power: 'one' })) })],
      ['a null hospital entry', () => ({ ...json(), hospitals: [null, ...json().hospitals] })],
      ['bad chain id', () => ({ ...json(), chainId: 'Bad Chain' })]
    ]
    for (const [name, input] of rows) {
      void it(name, () => { expectInvalid(() => genesisFromJson(input())) })
    }
  })
})
