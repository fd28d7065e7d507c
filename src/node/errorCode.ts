/** How the node names an error in its logs and events: its `code` when it has one, else its message. */
export function errorCode (err: unknown): string {
  return typeof (err as { code?: unknown })?.code === 'string' ? (err as { code: string }).code : (err instanceof Error ? err.message : String(err))
}
