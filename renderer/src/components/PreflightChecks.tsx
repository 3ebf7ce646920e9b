import { useState } from 'react';
import type { PreflightCheck } from '../api/types.js';
import { CopyButton } from './CopyButton.js';
import { StatusIcon } from './StatusIcon.js';

const order = { fail: 0, warn: 1, ok: 2 } as const;

/** Checks per node: failures first, each with its exact fix to copy; passed ones folded away. */
export function PreflightChecks({
  checks,
  testId = 'preflight-checks',
}: {
  checks: readonly PreflightCheck[];
  testId?: string;
}) {
  const [showPassed, setShowPassed] = useState(false);
  const sorted = [...checks].sort(
    (a, b) => order[a.status] - order[b.status] || a.node.localeCompare(b.node),
  );
  const passed = sorted.filter((c) => c.status === 'ok').length;
  const nodes = new Set(checks.map((c) => c.node)).size;
  // passed checks would bury the problems: they are counted, and listed on request
  const shown = showPassed ? sorted : sorted.filter((c) => c.status !== 'ok');
  const allPassed = passed === sorted.length;
  return (
    <div data-testid={testId}>
      {shown.length > 0 && (
        <table className="checks">
          <thead>
            <tr>
              <th scope="col" className="checks-status">
                <span className="offscreen">Status</span>
              </th>
              <th scope="col">Node</th>
              <th scope="col">Check</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((check) => (
              <tr
                key={`${check.node}/${check.id}`}
                className={`check-${check.status}`}
                data-testid={`check-${check.status}`}
              >
                <td className="checks-status">
                  <StatusIcon status={check.status} />
                </td>
                <td className="mono nowrap">{check.node}</td>
                <td>
                  <div>{check.message}</div>
                  {check.fix && (
                    <div className="fix">
                      <pre className="fix-text">{check.fix}</pre>
                      <CopyButton text={check.fix} label="Copy fix" />
                    </div>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {passed > 0 && (
        <p className="small checks-summary" data-testid="checks-passed">
          <StatusIcon status="ok" /> {allPassed ? 'All ' : ''}
          {passed} {allPassed ? '' : 'other '}check{passed === 1 ? '' : 's'} passed on {nodes} node
          {nodes === 1 ? '' : 's'}.{' '}
          <button type="button" className="link-button" onClick={() => setShowPassed(!showPassed)}>
            {showPassed ? 'Hide them' : 'Show them'}
          </button>
        </p>
      )}
    </div>
  );
}
