/**
 * Signing, submitting and waiting for one transaction: steps 1-3 of the `medchain tx` module
 * comment (tx.ts), shared by the tx and record commands.
 */
import type { Signer } from '../crypto/ed25519.js'
import { toHex } from '../crypto/bytes.js'
import { signTx, TxType, type TxPayload } from '../types/tx.js'
import { formatTable, printNote, type CommandResult } from './output.js'
import { ClientError, type CliContext } from './rpcClient.js'

interface ReceiptJson {
  hash: string
  height: number
  index: number
  code: string
  log: string
  events: Array<{ kind: string, attributes: Record<string, string> }>
}

/** How many later nonces to try when pending transactions of the signer hold the next ones. */
const MAX_NONCE_RETRIES = 64
const RECEIPT_POLL_MS = 200

function sleep (ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** The ids a receipt announces: the record id of an anchor, the grant id, the proposal id. */
function idsOf (type: TxType, receipt: ReceiptJson): Record<string, string> {
  const attr = (kind: string, name: string): string | undefined => receipt.events.find((e) => e.kind === kind)?.attributes[name]
  const out: Record<string, string> = {}
  const recordId = attr('record.anchored', 'recordId')
  if (recordId !== undefined) out.recordId = recordId
  if (type === TxType.Grant && receipt.code === 'OK') out.grantId = receipt.hash
  const proposalId = attr('proposal.opened', 'proposalId')
  if (proposalId !== undefined) out.proposalId = proposalId
  return out
}

const ID_LABELS: Record<string, string> = { recordId: 'record id', grantId: 'grant id', proposalId: 'proposal id' }

function receiptText (receipt: ReceiptJson, ids: Record<string, string>): string {
  const rows: string[][] = [
    ['tx:', receipt.hash],
    ['height:', `${receipt.height} (index ${receipt.index})`],
    ['result:', receipt.log === '' ? receipt.code : `${receipt.code} (${receipt.log})`],
    ...Object.entries(ids).map(([k, v]) => [`${ID_LABELS[k] ?? k}:`, v])
  ]
  const events = receipt.events.map((e) => `  ${e.kind}  ${Object.entries(e.attributes).map(([k, v]) => `${k}=${v}`).join(' ')}`)
  return formatTable(rows) + (events.length > 0 ? `\nevents:\n${events.join('\n')}` : '')
}

/** Signs `payload`, submits it and (unless --no-wait) waits for its receipt: steps 1-3 of the module comment. */
export async function sendTx (ctx: CliContext, signer: Signer, payload: TxPayload, wait: boolean): Promise<CommandResult> {
  const { client, io } = ctx
  const info = await client.call<{ chainId?: unknown }>('node_info')
  if (typeof info?.chainId !== 'string') {
    throw new ClientError({ code: 'CLI_RPC_BAD_RESPONSE', url: client.url, method: 'node_info' }, `The node at ${client.url} did not say its chain id; check the --rpc URL.`)
  }
  const from = toHex(signer.publicKey)
  const entity = await client.call<{ nonce?: unknown } | null>('state_getEntity', { publicKey: from })
  let nonce = typeof entity?.nonce === 'number' ? entity.nonce : 0
  let hash = ''
  for (let attempt = 0; ; attempt++) {
    const tx = signTx({ chainId: info.chainId, from: signer.publicKey, nonce, payload }, signer)
    try {
      hash = (await client.call<{ hash: string }>('tx_submit', { tx: toHex(tx.bytes) })).hash
      break
    } catch (err) {
      if (!(err instanceof ClientError) || attempt >= MAX_NONCE_RETRIES) throw err
      // a pending transaction of this signer holds the nonce: take the next one
      if (err.code === 'TX_DUPLICATE_NONCE') { nonce++; continue }
      // another transaction of this signer was committed since the nonce was read: read it again
      if (err.code === 'TX_NONCE_TOO_LOW') {
        const fresh = await client.call<{ nonce?: unknown } | null>('state_getEntity', { publicKey: from })
        nonce = Math.max(nonce + 1, typeof fresh?.nonce === 'number' ? fresh.nonce : 0)
        continue
      }
      throw err
    }
  }
  if (!wait) {
    return {
      json: { hash, nonce, status: 'submitted' },
      text: `Submitted tx ${hash} (nonce ${nonce}); see its receipt with \`medchain query tx ${hash}\`.`
    }
  }
  printNote(io, `waiting for block… (tx ${hash})`)
  const deadline = Date.now() + ctx.timeoutMs
  let receipt: ReceiptJson | null = null
  for (;;) {
    receipt = await client.call<ReceiptJson | null>('tx_getReceipt', { hash })
    if (receipt !== null) break
    if (Date.now() >= deadline) {
      throw new ClientError({ code: 'CLI_TX_TIMEOUT', hash },
        `Transaction ${hash} was not in a block within ${ctx.timeoutMs / 1000} s; it may still be committed, check with \`medchain query tx ${hash}\`.`)
    }
    await sleep(RECEIPT_POLL_MS)
  }
  const ids = idsOf(payload.type, receipt)
  if (receipt.code !== 'OK') {
    throw new ClientError({ code: receipt.code, hash, height: receipt.height },
      `Transaction ${hash} was included at height ${receipt.height} but refused with ${receipt.code}: ${receipt.log}`)
  }
  return { json: { ...receipt, ...ids }, text: receiptText(receipt, ids) }
}
