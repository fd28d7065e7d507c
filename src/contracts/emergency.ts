/**
 * Emergency (break-glass) access: a clinician states a reason and gets read access to all of a
 * patient's records for a fixed window, always on the patient's audit trail with the emergency flag.
 *
 * | transaction     | signed by                                  | rules (refusal code)                                          |
 * | --------------- | ------------------------------------------ | ------------------------------------------------------------- |
 * | EmergencyAccess | an active clinician (EMERGENCY_NOT_CLINICIAN) | patient an active patient (EMERGENCY_UNKNOWN_PATIENT)       |
 *
 * The window of (clinician, patient) runs from the block time to block time + EMERGENCY_WINDOW_MS
 * (24 h) and closes by itself: an access is granted by it while `timestamp < endsAt`. A new
 * EmergencyAccess re-opens (replaces) the window. The stated reason stays in the transaction.
 */
import type { TxType } from '../types/tx.js'
import { toHex } from '../crypto/bytes.js'
import { ok, refuse, type Effects, type Sender, type TxOf, type Verdict } from './context.js'
import { type ExecContext } from '../types/application.js'
import { getActive } from './registry.js'
import { EntityKind } from './roles.js'
import type { EmergencyWindow } from './schema.js'
import type { StateView } from './stateView.js'

/** Length of a break-glass window: 24 hours of block time. */
export const EMERGENCY_WINDOW_MS = 24 * 60 * 60 * 1000

export function isWindowOpen (window: EmergencyWindow | undefined, timestamp: number): boolean {
  return window !== undefined && timestamp >= window.openedAt && timestamp < window.endsAt
}

export function verifyEmergencyAccess (view: StateView, tx: TxOf<typeof TxType.EmergencyAccess>, _ctx: ExecContext, sender: Sender): Verdict<null> {
  if (sender.entity.kind !== EntityKind.Clinician) return refuse('EMERGENCY_NOT_CLINICIAN')
  if (getActive(view, tx.payload.patient, EntityKind.Patient) === undefined) return refuse('EMERGENCY_UNKNOWN_PATIENT')
  return ok(null)
}

export function executeEmergencyAccess (view: StateView, tx: TxOf<typeof TxType.EmergencyAccess>, ctx: ExecContext, sender: Sender): Effects {
  const window: EmergencyWindow = { openedAt: ctx.timestamp, endsAt: ctx.timestamp + EMERGENCY_WINDOW_MS, openedAtHeight: ctx.height }
  view.putEmergencyWindow(sender.publicKey, tx.payload.patient, window)
  return {
    events: [{
      kind: 'emergency.opened',
      attributes: [['patient', toHex(tx.payload.patient)], ['clinician', toHex(sender.publicKey)], ['endsAt', String(window.endsAt)]]
    }],
    emergency: true
  }
}
