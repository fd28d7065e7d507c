/**
 * The validator's files under `<home>`, as the action executor writes them (ActionDisk) and the node
 * reads them at start: the sign-state (src/consensus/signState.ts, durable on every save: safety),
 * and two liveness files rewritten in place without sync (inPlaceFile.ts):
 * `<home>/data/last_signed_block.bin`, the encoded block the sign-state names (written once per
 * block: the prevote and precommit for one block write it once), and `<home>/data/own_messages.bin`,
 * the own-messages WAL (src/consensus/wal.ts's body format). An unreadable liveness file reads as
 * missing: it costs the validator at most a round, never safety.
 */
import { join } from 'node:path'
import type { Logger } from 'pino'
import { SignStateFile } from '../consensus/signState.js'
import type { SignState } from '../consensus/types.js'
import { decodeOwnMessages, encodeOwnMessages } from '../consensus/wal.js'
import { toHex } from '../crypto/bytes.js'
import { decodeBlock, encodeBlock, type Block } from '../types/block.js'
import type { ConsensusMessage } from '../types/consensusMessage.js'
import type { ActionDisk } from './actions.js'
import { HomePaths } from './config.js'
import { InPlaceFile } from './inPlaceFile.js'

export const LAST_SIGNED_BLOCK_FILE = 'last_signed_block.bin'
export const OWN_MESSAGES_FILE = 'own_messages.bin'

export class ValidatorDisk implements ActionDisk {
  private readonly signStateFile: SignStateFile
  private readonly lastSignedBlockFile: InPlaceFile
  private readonly ownMessagesFile: InPlaceFile
  /** Hash hex of the block last written to last_signed_block.bin by this process. */
  private lastSignedBlockHash: string | undefined

  constructor (home: string) {
    this.signStateFile = new SignStateFile(HomePaths.signState(home))
    this.lastSignedBlockFile = new InPlaceFile(join(HomePaths.data(home), LAST_SIGNED_BLOCK_FILE))
    this.ownMessagesFile = new InPlaceFile(join(HomePaths.data(home), OWN_MESSAGES_FILE))
  }

  /** The saved sign-state; throws ConsensusError SIGN_STATE_CORRUPT (never a silent fresh start). */
  loadSignState (): SignState | undefined {
    return this.signStateFile.load()
  }

  /** The block the sign-state's hash names; undefined when missing or unreadable. */
  readLastSignedBlock (): Block | undefined {
    try {
      const body = this.lastSignedBlockFile.read()
      return body === undefined ? undefined : decodeBlock(body)
    } catch {
      return undefined
    }
  }

  /** The own messages of the last signed height; none when the file is missing or unreadable. */
  readOwnMessages (logger: Logger): ConsensusMessage[] {
    try {
      const body = this.ownMessagesFile.read()
      if (body === undefined) return []
      return decodeOwnMessages(body)
    } catch (err) {
      logger.warn({ path: this.ownMessagesFile.path, err: err instanceof Error ? err.message : String(err) }, 'own messages file unreadable: ignored (a restart re-sends only the last signed vote)')
      return []
    }
  }

  /** Writes the block unless it is unknown here or the one written last; keeps the file otherwise. */
  saveLastSignedBlock (block: Block | undefined, hash: Uint8Array | undefined): void {
    if (block === undefined || hash === undefined || toHex(hash) === this.lastSignedBlockHash) return
    this.lastSignedBlockFile.write(encodeBlock(block))
    this.lastSignedBlockHash = toHex(hash)
  }

  /** fdatasync'd before it returns. */
  saveSignState (signState: SignState): void {
    this.signStateFile.save(signState)
  }

  saveOwnMessages (messages: readonly ConsensusMessage[]): void {
    this.ownMessagesFile.write(encodeOwnMessages(messages))
  }

  /** Closes the liveness files (the sign-state file is opened per save). */
  close (): void {
    this.ownMessagesFile.close()
    this.lastSignedBlockFile.close()
  }
}
