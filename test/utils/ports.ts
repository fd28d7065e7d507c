/** Free TCP ports on 127.0.0.1 for tests that start real servers. */
import { createServer } from 'node:net'

/** A port the OS reports free on 127.0.0.1 (listen on port 0, read the port, close). */
export async function freePort (): Promise<number> {
  return await new Promise<number>((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => { const p = (srv.address() as { port: number }).port; srv.close(() => { resolve(p) }) })
  })
}

/** `n` distinct free ports on 127.0.0.1. */
export async function freePorts (n: number): Promise<number[]> {
  const ports: number[] = []
  while (ports.length < n) {
    const port = await freePort()
    if (!ports.includes(port)) ports.push(port)
  }
  return ports
}
