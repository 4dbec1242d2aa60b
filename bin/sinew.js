#!/usr/bin/env node
'use strict';
const path = require('node:path');
const fs = require('node:fs');

const bundle = path.join(__dirname, '..', 'dist', 'sinew.js');
if (!fs.existsSync(bundle)) {
  process.stderr.write('sinew: the command is not built yet; run `npm ci` (or `npm run build`) first\n');
  process.exit(2);
}
require(bundle);
