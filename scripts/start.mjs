// `npm start`: the demo stack, left running. The stand-in EHR and PMS on ports 8090 and 8091,
// the engine (`sinew start`) with the channels in channels/ and its ledger in ./data, the lab
// channel's MLLP listener on 2575 (ADT on 2576, SIU on 2577), /health /ready /metrics on 8080.
// Ctrl-C stops everything (the ledger stays in ./data).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, startStack } from './lib/stack.mjs';

if (!existsSync(join(ROOT, 'dist', 'sinew.js')) || !existsSync(join(ROOT, 'dist', 'standins.js'))) {
  process.stderr.write('run `npm ci` first (it builds dist/)\n');
  process.exit(1);
}

const stack = await startStack({
  dataDir: process.env.SINEW_DATA_DIR ?? join(ROOT, 'data'),
  ports: { ehr: 8090, pms: 8091, lab: 2575, adt: 2576, siu: 2577, http: 8080 },
}).catch((err) => {
  process.stderr.write(`npm start: ${err.message}\n`);
  process.exit(1);
});

stack.engine.child.stdout.pipe(process.stdout);
stack.engine.child.stderr.pipe(process.stderr);
process.stdout.write(`
Sinew is running.
  engine    ${stack.urls.engine}/ready  ·  ${stack.urls.engine}/metrics
  EHR       ${stack.urls.ehr}  (a FHIR R4 server, in memory)
  PMS       ${stack.urls.pms}/api/notices  ·  /api/appointments

Try:
  npx sinew send --port 2575 channels/samples/oru-r01.hl7     # a lab result
  npx sinew send --port 2576 channels/samples/adt-a01.hl7     # an admission
  npx sinew send --port 2577 channels/samples/siu-s12.hl7     # an appointment
  curl '${stack.urls.ehr}/Patient?identifier=MRN-000123'
  curl '${stack.urls.ehr}/DiagnosticReport'
  curl '${stack.urls.pms}/api/notices'

Ctrl-C stops it.
`);

let stopping = false;
const stop = async () => {
  if (stopping) process.exit(130);
  stopping = true;
  const { code } = await stack.stop();
  process.exit(code ?? 0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
stack.engine.exit.then(({ code }) => {
  if (!stopping) {
    process.stderr.write(`the engine exited (${code})\n`);
    void stack.stop().then(() => process.exit(1));
  }
});
