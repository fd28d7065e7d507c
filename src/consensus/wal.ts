/**
 * The own-messages WAL of a validator: what it keeps (every message it signed at the sign-state's
 * height, only the latest proposal) and the byte format of `<home>/data/own_messages.bin`'s body.
 * Liveness data, not safety data: the durable sign-state (signState.ts) is what forbids a double
 * sign; this list only lets a restarted validator re-send what it signed, which the engine takes as
 * `EngineOptions.ownMessages`.
 *
 * Body format (framed on disk by src/node/inPlaceFile.ts, which checks it whole): for each message
 * a 4-byte big-endian length and encodeConsensusMessage's bytes.
 */
import { decodeConsensusMessage, encodeConsensusMessage, type ConsensusMessage } from '../types/consensusMessage.js'
import { ConsensusError } from '../types/consensusErrors.js'

/** The height a consensus message is for. */
export function messageHeight (m: ConsensusMessage): number {
  return m.kind === 'proposal' ? m.proposal.height : m.vote.height
}

/**
 * What a validator's own-messages WAL holds after it signed `message` at `height` (the node's
 * own_messages.bin, the simulator's disk): every vote signed at that height and only the latest
 * proposal; older heights are dropped. A proposal carries a whole block, and a stall of many rounds
 * must not keep one per proposing round. Pure.
 */
export function keepOwnMessages (previous: readonly ConsensusMessage[], message: ConsensusMessage, height: number): ConsensusMessage[] {
  return [...previous.filter((m) => messageHeight(m) === height && !(message.kind === 'proposal' && m.kind === 'proposal')), message]
}

/** The WAL's body: for each message a 4-byte big-endian length and encodeConsensusMessage's bytes. */
export function encodeOwnMessages (messages: readonly ConsensusMessage[]): Uint8Array {
  const parts = messages.map((m) => encodeConsensusMessage(m))
  const bytes = new Uint8Array(parts.reduce((n, p) => n + 4 + p.length, 0))
  const view = new DataView(bytes.buffer)
  let off = 0
  for (const p of parts) {
    view.setUint32(off, p.length)
    bytes.set(p, off + 4)
    off += 4 + p.length
  }
  return bytes
}

/** Inverse of encodeOwnMessages; throws ConsensusError (MSG_MALFORMED for a truncated list). */
export function decodeOwnMessages (bytes: Uint8Array): ConsensusMessage[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const out: ConsensusMessage[] = []
  let off = 0
  while (off < bytes.length) {
    const length = off + 4 <= bytes.length ? view.getUint32(off) : -1
    if (length < 0 || off + 4 + length > bytes.length) {
      throw new ConsensusError({ code: 'MSG_MALFORMED', reason: 'truncated own-messages list' }, 'The own-messages list ends inside a message.')
    }
    out.push(decodeConsensusMessage(bytes.slice(off + 4, off + 4 + length)))
    off += 4 + length
  }
  return out
}
