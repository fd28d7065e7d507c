#!/usr/bin/env node
/**
 * The `medchain` command line. Thin: builds the commander program from src/cli, runs it, and sets
 * the exit code (0 ok, 1 the operation failed, 2 bad usage; see src/cli/output.ts).
 * Each command group registers itself here; its implementation lives in src/cli/<group>.ts.
 */
import { createProgram, processIo, runProgram } from '../src/cli/program.js'
import { addKeysCommands } from '../src/cli/keys.js'
import { addNodeCommands } from '../src/cli/node.js'
import { addStartCommands } from '../src/cli/start.js'
import { addRecordCommands } from '../src/cli/record.js'
import { addQueryCommands } from '../src/cli/query.js'
import { addTxCommands } from '../src/cli/tx.js'
import { addDoctorCommand } from '../src/cli/doctor.js'

const io = processIo()
const program = createProgram(io)
addKeysCommands(program, io)
addNodeCommands(program, io)
addTxCommands(program, io); addQueryCommands(program, io); addRecordCommands(program, io)
addDoctorCommand(program, io)
addStartCommands(program, io, async () => (await import('../src/node/network.js')).libp2pNetwork)
process.exitCode = await runProgram(program, process.argv, io)
