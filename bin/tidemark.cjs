#!/usr/bin/env node
'use strict';
// The installed command: loads the bundled CLI (built by `npm run build`).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const cli = join(__dirname, '..', 'out', 'cli', 'cli.cjs');
if (!existsSync(cli)) {
  console.error(
    `error: Tidemark is not built yet; run "npm run build" in ${join(__dirname, '..')} first.`,
  );
  process.exit(1);
}
require(cli);
