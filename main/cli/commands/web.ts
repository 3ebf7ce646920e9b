import { InvalidArgumentError, type Command } from 'commander';
import { createDispatcher } from '../../api/dispatcher.js';
import { createHandlers } from '../../api/handlers/index.js';
import { engineEventSource } from '../../bridge/engine-events.js';
import { startWebBridge } from '../../bridge/web-bridge.js';
import { createHeadlessEngine } from '../headless-engine.js';
import { openInBrowser } from '../open-in-browser.js';
import { rendererDir } from '../renderer-dir.js';
import { waitForShutdownSignal } from '../shutdown-signal.js';

interface WebOptions {
  port?: number;
  open?: boolean;
}

export function register(program: Command): void {
  program
    .command('web')
    .description('serve the Tidemark UI to a browser on this machine (127.0.0.1 only)')
    .option(
      '--port <n>',
      'port to listen on; 0 picks a free one (default: settings web.port)',
      parsePort,
    )
    .option('--open', 'open the UI in the default browser')
    .action(async (options: WebOptions) => {
      const engine = await createHeadlessEngine();
      try {
        const dispatch = createDispatcher({
          handlers: createHandlers(engine),
          trustedOrigins: [],
          logger: engine.logger,
        });
        const bridge = await startWebBridge({
          dispatch,
          events: engineEventSource(engine),
          staticDir: rendererDir(),
          port: options.port ?? (await engine.settings.get()).web.port,
          logger: engine.logger,
        });
        engine.logger.info({ port: bridge.port }, 'web UI started');
        console.log(`Tidemark web UI: ${bridge.url}`);
        console.log(
          'Only this machine can open it; the link carries an access token. Press Ctrl+C to stop.',
        );
        if (options.open && !(await openInBrowser(bridge.url))) {
          console.log('No browser could be started; open the link above yourself.');
        }
        await waitForShutdownSignal();
        console.log('Stopping Tidemark…');
        await bridge.close();
      } finally {
        await engine.close();
      }
    });
}

function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65535)
    throw new InvalidArgumentError('expected a port number from 0 to 65535.');
  return port;
}
