/**
 * The simulator's virtual clock and event queue. Events are ordered by (time, sequence number):
 * two events at the same virtual millisecond run in the order they were scheduled, so a run is a
 * pure function of its seed. Each event's work (which may be async: block execution on a
 * MemoryLevel) is awaited before the next event starts, and no event ever waits on real time.
 */
import { MinHeap } from '../util/minHeap.js'

export interface ScheduledEvent {
  readonly at: number
  readonly seq: number
  /** Short description, kept in the trace (e.g. "deliver 0->2 vote"). */
  readonly label: string
  readonly run: () => void | Promise<void>
}

export interface TraceEntry { at: number, seq: number, label: string }

export interface SchedulerOptions {
  /** Keep a trace of every event run (for determinism tests and debugging); default false. */
  trace?: boolean
}

export class Scheduler {
  private nowMs = 0
  private nextSeq = 0
  private readonly heap = new MinHeap<ScheduledEvent>((a, b) => a.at < b.at || (a.at === b.at && a.seq < b.seq))
  private processed = 0
  readonly trace: TraceEntry[] | undefined

  constructor (opts: SchedulerOptions = {}) {
    this.trace = opts.trace === true ? [] : undefined
  }

  /** Virtual milliseconds since the start of the run. */
  get now (): number {
    return this.nowMs
  }

  get pending (): number {
    return this.heap.size
  }

  /** Number of events run so far. */
  get eventsRun (): number {
    return this.processed
  }

  /** Schedules `run` at virtual time `at` (never earlier than now). Returns the event. */
  schedule (at: number, label: string, run: () => void | Promise<void>): ScheduledEvent {
    if (!Number.isFinite(at)) throw new RangeError(`Scheduler: bad time ${at}`)
    const event: ScheduledEvent = { at: Math.max(at, this.nowMs), seq: this.nextSeq++, label, run }
    this.heap.push(event)
    return event
  }

  /** Schedules `run` after `delayMs` of virtual time. */
  after (delayMs: number, label: string, run: () => void | Promise<void>): ScheduledEvent {
    return this.schedule(this.nowMs + Math.max(0, delayMs), label, run)
  }

  /** Runs the next event; false when the queue is empty. */
  async step (): Promise<boolean> {
    const event = this.heap.pop()
    if (event === undefined) return false
    this.nowMs = event.at
    this.processed++
    this.trace?.push({ at: event.at, seq: event.seq, label: event.label })
    await event.run()
    return true
  }

  /**
   * Runs events until `stop` holds (checked before each event), the queue is empty, or the next
   * event lies beyond `stop` when it is a time (the clock then advances to that time).
   * Returns why it stopped.
   */
  async runUntil (stop: number | (() => boolean), opts: { maxEvents?: number } = {}): Promise<'condition' | 'time' | 'idle' | 'maxEvents'> {
    const maxEvents = opts.maxEvents ?? Number.POSITIVE_INFINITY
    let count = 0
    for (;;) {
      if (typeof stop === 'function' && stop()) return 'condition'
      const next = this.heap.peek()
      if (next === undefined) return 'idle'
      if (typeof stop === 'number' && next.at > stop) {
        this.nowMs = Math.max(this.nowMs, stop)
        return 'time'
      }
      if (count >= maxEvents) return 'maxEvents'
      count++
      await this.step()
    }
  }
}
