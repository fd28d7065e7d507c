/**
 * Where a keystore passphrase comes from, first match wins:
 *  1. `--passphrase-file FILE`: the file's first line (a trailing "\r" removed, nothing else trimmed);
 *  2. the environment variable `MEDCHAIN_PASSPHRASE`, exactly as set;
 *  3. an interactive prompt on stderr when stdin is a terminal, without echo; a new key's
 *     passphrase is asked twice and both entries must match.
 * With none of them (a script, a pipe, CI) the command fails with CLI_NO_PASSPHRASE naming the
 * two non-interactive options. An empty passphrase is refused for new keys, whatever its source.
 */
import { closeSync, openSync, readSync } from 'node:fs'
import { CliError } from './errors.js'
import type { CliIo } from './output.js'

export const PASSPHRASE_ENV = 'MEDCHAIN_PASSPHRASE'

/** Only the first line is used; 64 KiB is far beyond any passphrase. */
const MAX_PASSPHRASE_FILE_READ = 64 * 1024

export interface PassphraseOptions {
  /** `--passphrase-file`, when given. */
  passphraseFile?: string
}

/** Reads the passphrase for a new key (asked twice on a terminal); refuses an empty one. */
export async function readNewPassphrase (io: CliIo, opts: PassphraseOptions, keyName: string): Promise<string> {
  const { passphrase, source } = await obtain(io, opts, async () => {
    const first = await promptHidden(io, `Passphrase for new key "${keyName}": `)
    if (first.length === 0) return first
    const second = await promptHidden(io, 'Repeat the passphrase: ')
    if (first !== second) {
      throw new CliError({ code: 'CLI_PASSPHRASE_MISMATCH' }, 'The two passphrases differ; run the command again and type the same passphrase twice.')
    }
    return first
  })
  if (passphrase.length === 0) {
    throw new CliError({ code: 'CLI_EMPTY_PASSPHRASE', source }, `The passphrase from ${source} is empty; a key must be protected by a non-empty passphrase.`)
  }
  return passphrase
}

/** Reads the passphrase of an existing key (asked once on a terminal). */
export async function readPassphrase (io: CliIo, opts: PassphraseOptions, keyName: string): Promise<string> {
  const { passphrase } = await obtain(io, opts, async () => await promptHidden(io, `Passphrase for key "${keyName}": `))
  return passphrase
}

async function obtain (
  io: CliIo, opts: PassphraseOptions, prompt: () => Promise<string>
): Promise<{ passphrase: string, source: string }> {
  if (opts.passphraseFile !== undefined) {
    return { passphrase: readFirstLine(opts.passphraseFile), source: `--passphrase-file ${opts.passphraseFile}` }
  }
  const fromEnv = io.env[PASSPHRASE_ENV]
  if (fromEnv !== undefined) return { passphrase: fromEnv, source: PASSPHRASE_ENV }
  if (io.stdin.isTTY === true && typeof io.stdin.setRawMode === 'function') {
    return { passphrase: await prompt(), source: 'the prompt' }
  }
  throw new CliError({ code: 'CLI_NO_PASSPHRASE' },
    `No passphrase given and no terminal to ask for one; set ${PASSPHRASE_ENV} or pass --passphrase-file <file>.`)
}

function readFirstLine (path: string): string {
  let fd: number | undefined
  try {
    fd = openSync(path, 'r')
    const buf = Buffer.alloc(MAX_PASSPHRASE_FILE_READ)
    let len = 0
    for (;;) {
      const n = readSync(fd, buf, len, buf.length - len, null)
      if (n === 0 || buf.subarray(len, len + n).includes(0x0a)) { len += n; break }
      len += n
      if (len === buf.length) break
    }
    const text = buf.subarray(0, len).toString('utf8')
    buf.fill(0)
    const newline = text.indexOf('\n')
    const line = newline === -1 ? text : text.slice(0, newline)
    return line.endsWith('\r') ? line.slice(0, -1) : line
  } catch (err) {
    const errno = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : 'UNKNOWN'
    throw new CliError({ code: 'CLI_FILE_UNREADABLE', path, errno }, `Could not read the passphrase file ${path} (${errno}); check the path and its permissions.`)
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}

/**
 * Asks for a line on a terminal without echoing it: the prompt goes to stderr, stdin is switched
 * to raw mode until Enter. Backspace edits, Ctrl-C cancels (CLI_CANCELLED), Ctrl-D ends the line,
 * other control characters (arrow keys' escape sequences included) are ignored.
 */
export async function promptHidden (io: CliIo, prompt: string): Promise<string> {
  const { stdin, stderr } = io
  const setRawMode = stdin.setRawMode
  if (typeof setRawMode !== 'function') throw new Error('promptHidden needs a terminal on stdin')
  stderr.write(prompt)
  const wasRaw = stdin.isRaw === true
  setRawMode.call(stdin, true)
  return await new Promise<string>((resolve, reject) => {
    let chars: string[] = []
    let inEscape = false
    const finish = (): void => {
      stdin.removeListener('data', onData)
      stdin.removeListener('end', onEnd)
      setRawMode.call(stdin, wasRaw)
      stdin.pause()
      stderr.write('\n')
    }
    const onData = (chunk: Buffer | string): void => {
      for (const ch of typeof chunk === 'string' ? chunk : chunk.toString('utf8')) {
        if (inEscape) {
          // CSI sequences end with a letter or '~'; a lone ESC followed by anything ends at that char.
          if (/[A-Za-z~]/.test(ch)) inEscape = false
          continue
        }
        if (ch === '\r' || ch === '\n' || ch === '\u0004') {
          finish()
          resolve(chars.join(''))
          chars = []
          return
        }
        if (ch === '\u0003') {
          finish()
          chars = []
          reject(new CliError({ code: 'CLI_CANCELLED' }, 'Cancelled at the passphrase prompt; nothing was changed.'))
          return
        }
        if (ch === '\u007f' || ch === '\b') {
          chars.pop()
          continue
        }
        if (ch === '\u001b') {
          inEscape = true
          continue
        }
        if (ch < ' ') continue
        chars.push(ch)
      }
    }
    const onEnd = (): void => {
      finish()
      chars = []
      reject(new CliError({ code: 'CLI_CANCELLED' }, 'The terminal closed at the passphrase prompt; nothing was changed.'))
    }
    stdin.on('data', onData)
    stdin.on('end', onEnd)
    stdin.resume()
  })
}
