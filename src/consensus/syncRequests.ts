/**
 * When the engine, at one height, asks the node for block sync ('requestSync' from that height):
 * at most once per reason (`SyncTrigger`), so a request made too early (the others had not
 * imported the block yet) is followed by one more once they show up at a later height.
 */
import { Step, timeoutDelay, type EngineAction, type EngineEvent, type TimeoutConfig } from './types.js'

/**
 * Why we ask for block sync: the store is behind the sign-state, more than 1/3 of the power is at
 * later heights, 2f+1 precommitted a block we do not hold, or some validator has been seen at a
 * later height for about one timeout cap (a validator ahead with < 1/3 of the power that did not
 * hand us its certificate, e.g. because it restarted or synced the block).
 */
export type SyncTrigger = 'signState' | 'peersAhead' | 'missingBlock' | 'peerAheadLong'

export class SyncRequests {
  /** requestSync already emitted at this height, per trigger. */
  private readonly requested = new Set<SyncTrigger>()
  /** Validators of our set seen at heights above ours, with their power. */
  private readonly aheadSenders = new Map<string, number>()
  /**
   * Virtual time (the nominal delays of the timeouts that fired) since a validator was first seen
   * at a later height; the first timeout after that is not counted (it may have been scheduled
   * before). undefined while nobody is ahead.
   */
  private aheadElapsedMs: number | undefined

  /** For the engine at `height`, with these timeouts (the clock of 'peerAheadLong'). */
  constructor (private readonly height: number, private readonly timeouts: TimeoutConfig) {}

  /** Emits 'requestSync' for this trigger unless it was emitted at this height already. */
  request (trigger: SyncTrigger, out: EngineAction[]): void {
    if (this.requested.has(trigger)) return
    this.requested.add(trigger)
    out.push({ type: 'requestSync', fromHeight: this.height })
  }

  /**
   * A validator of our set (hex key, power) signed a valid message for a later height: ask for
   * block sync once more than 1/3 of `totalPower` is ahead of us, unless we have `decided` (we are
   * importing our own decision, and peers ahead of us are expected).
   */
  peerAhead (validator: string, power: number, decided: boolean, totalPower: number, out: EngineAction[]): void {
    this.aheadSenders.set(validator, power)
    if (decided) return
    let sum = 0
    for (const p of this.aheadSenders.values()) sum += p
    if (sum > totalPower / 3) this.request('peersAhead', out)
  }

  /**
   * The engine has no clock: the timeouts that fire are its clock. Once some validator of our set
   * has been seen at a later height for about capMs (concurrent timers may make it up to ~2× sooner),
   * ask for block sync once at this height, even if they hold < 1/3 of the power.
   */
  countTimeout (ev: Extract<EngineEvent, { type: 'timeout' }>, decided: boolean, out: EngineAction[]): void {
    if (this.aheadSenders.size === 0 || decided) return
    if (this.aheadElapsedMs === undefined) {
      this.aheadElapsedMs = 0 // first timeout after the sighting: may have been scheduled before it
      return
    }
    this.aheadElapsedMs += ev.step === 'commit'
      ? this.timeouts.commitMs
      : timeoutDelay(this.timeouts, ev.step === 'rebroadcast' ? Step.Prevote : ev.step, ev.round)
    if (this.aheadElapsedMs >= this.timeouts.capMs) this.request('peerAheadLong', out)
  }
}
