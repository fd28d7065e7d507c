/** FHIR resources and file helpers shared by the record tests. */
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

/** A FHIR MedicationRequest (amoxicillin) carrying `note`. */
export function prescription (note: string): Record<string, unknown> {
  return {
    resourceType: 'MedicationRequest',
    status: 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '308182', display: 'Amoxicillin 250 MG Oral Capsule' }] },
    subject: { reference: 'Patient/example' },
    note: [{ text: note }]
  }
}

/** A FHIR DiagnosticReport (CBC panel) with `conclusion`. */
export function labReport (conclusion: string): Record<string, unknown> {
  return {
    resourceType: 'DiagnosticReport',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '58410-2', display: 'CBC panel' }] },
    subject: { reference: 'Patient/example' },
    conclusion
  }
}

/** Every file under `root`, recursively. */
export function filesUnder (root: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(root, { withFileTypes: true })) {
    const path = join(root, entry.name)
    if (entry.isDirectory()) out.push(...filesUnder(path))
    else if (entry.isFile()) out.push(path)
  }
  return out
}
