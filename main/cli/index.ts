import { runCli } from './run-cli.js';

void runCli(process.argv);
