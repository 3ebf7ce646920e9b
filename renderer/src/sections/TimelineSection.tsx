import { useEffect, useState } from 'react';
import { errorMessage } from '../api/api-error.js';
import { call, subscribe } from '../api/call.js';
import type { NearestPoint, TimelineView } from '../api/types.js';
import { EmptyState } from '../components/EmptyState.js';
import { ErrorNote } from '../components/ErrorNote.js';
import { SnapPanel } from '../components/timeline/SnapPanel.js';
import { TimelineChart, timelineGutter, trackWidth } from '../components/timeline/TimelineChart.js';
import { formatTimestamp } from '../format.js';
import { toDatetimeLocal } from '../forms/restore-form.js';
import { useLoad } from '../hooks/use-load.js';
import { useWidth } from '../hooks/use-width.js';
import { useClustersStore } from '../state/clusters-store.js';
import { startRestoreDraft } from '../state/restores-store.js';
import { selectCluster, useSelectionStore } from '../state/selection-store.js';
import { snapLocally } from '../timeline/point-snap.js';
import { rangeOf, zoomLabels, zoomRange, type ZoomId } from '../timeline/time-scale.js';

const zoomIds = Object.keys(zoomLabels) as ZoomId[];
/** Pixels per density bucket: fine enough to see bursts, few enough to send. */
const pixelsPerBucket = 4;
/** The slider's thumb width, set in styles.css. */
const sliderThumb = 14;
const legend = [
  ['tl-backup-swatch', 'base backup'],
  ['tl-wal-swatch', 'WAL archived'],
  ['tl-gap-swatch', 'WAL gap'],
  ['tl-restorable-swatch', 'restorable point'],
  ['tl-created-swatch', 'waiting for WAL'],
  ['tl-failed-swatch', 'failed point'],
] as const;

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

async function loadView(clusterId: string, zoom: ZoomId, buckets: number): Promise<TimelineView> {
  const whole = await call('timeline.get', { clusterId, buckets });
  const extent = whole.extent ? rangeOf(whole.extent) : null;
  const range = zoomRange(
    zoom,
    Date.parse(whole.generatedAt),
    extent,
    Date.parse(whole.window.from),
  );
  if (!range) return whole;
  return call('timeline.get', {
    clusterId,
    buckets,
    from: new Date(range.from).toISOString(),
    to: new Date(range.to).toISOString(),
  });
}

export function TimelineSection() {
  const clusters = useClustersStore((s) => s.clusters);
  const loaded = useClustersStore((s) => s.loaded);
  const selected = useSelectionStore((s) => s.clusterId);
  const clusterId = clusters.some((c) => c.config.id === selected)
    ? selected
    : (clusters[0]?.config.id ?? null);
  const [zoom, setZoom] = useState<ZoomId>('data');
  const [containerRef, measured] = useWidth<HTMLDivElement>();
  const width = measured ?? 0;
  // rounded, so resizing the window by a few pixels does not reload the view
  const buckets = Math.min(
    1000,
    Math.max(20, Math.round(trackWidth(width) / pixelsPerBucket / 10) * 10),
  );
  const [version, setVersion] = useState(0);
  const view = useLoad(
    clusterId && measured !== null ? `${clusterId}|${zoom}|${buckets}|${version}` : null,
    () => loadView(clusterId!, zoom, buckets),
  );
  const [chosen, setChosen] = useState<number | null>(null);
  const [snap, setSnap] = useState<NearestPoint | null>(null);
  const [snapError, setSnapError] = useState<string | null>(null);

  // new points and backups change the picture: reload, at most every few seconds
  useEffect(() => {
    if (!clusterId) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const later = () => {
      timer ??= setTimeout(() => {
        timer = null;
        setVersion((v) => v + 1);
      }, 3000);
    };
    const offPoint = subscribe('restorePoint.created', (p) => p.clusterId === clusterId && later());
    const offBackup = subscribe('backup.completed', (b) => b.clusterId === clusterId && later());
    return () => {
      offPoint();
      offBackup();
      if (timer) clearTimeout(timer);
    };
  }, [clusterId]);

  const value = view.value;
  // the slider starts at the latest restorable point (or the end of the range)
  useEffect(() => {
    if (!value) return;
    setChosen((current) => {
      const range = rangeOf(value.range);
      if (current !== null && current >= range.from && current <= range.to) return current;
      const latest = value.latestRestorable ? Date.parse(value.latestRestorable.createdAt) : null;
      return latest !== null && latest >= range.from ? latest : range.to;
    });
  }, [value]);

  // snap: here when every point of the range is known, otherwise ask the engine (debounced)
  useEffect(() => {
    if (!value || chosen === null || !clusterId) return;
    const local = snapLocally(value.restorePoints.points, chosen);
    if (local) {
      setSnap(local);
      setSnapError(null);
      return;
    }
    let stale = false;
    const timer = setTimeout(() => {
      call('timeline.nearestPoint', { clusterId, at: new Date(chosen).toISOString() }).then(
        (answer) => {
          if (!stale) {
            setSnap(answer);
            setSnapError(null);
          }
        },
        (err: unknown) => !stale && setSnapError(errorMessage(err)),
      );
    }, 150);
    return () => {
      stale = true;
      clearTimeout(timer);
    };
  }, [value, chosen, clusterId]);

  const range = value ? rangeOf(value.range) : null;
  // whole seconds, about 5000 steps over the range: arrow keys move by a readable amount
  const sliderStep = range
    ? Math.max(1000, Math.round((range.to - range.from) / 5000 / 1000) * 1000)
    : 1000;

  if (!loaded)
    return (
      <section className="section" data-testid="section-timeline">
        <h1>Timeline</h1>
        <p className="muted">Loading…</p>
      </section>
    );
  if (clusterId === null)
    return (
      <section className="section" data-testid="section-timeline">
        <h1>Timeline</h1>
        <EmptyState title="No cluster yet — add a cluster and take a backup">
          <p>
            Once backups exist, the timeline shows the whole retention window: base backups,
            consistent restore points, WAL coverage of every node and any gaps. A slider picks the
            moment to restore.
          </p>
        </EmptyState>
      </section>
    );

  return (
    <section className="section section-wide" data-testid="section-timeline">
      <div className="section-head">
        <h1>Timeline</h1>
        <div className="toolbar">
          <label className="inline-label">
            Cluster{' '}
            <select
              value={clusterId}
              data-testid="timeline-cluster"
              onChange={(e) => selectCluster(e.target.value)}
            >
              {clusters.map((c) => (
                <option key={c.config.id} value={c.config.id}>
                  {c.config.name}
                </option>
              ))}
            </select>
          </label>
          <label className="inline-label">
            Show{' '}
            <select
              value={zoom}
              data-testid="timeline-zoom"
              onChange={(e) => setZoom(e.target.value as ZoomId)}
            >
              {zoomIds.map((z) => (
                <option key={z} value={z}>
                  {zoomLabels[z]}
                </option>
              ))}
            </select>
          </label>
          <button
            type="button"
            className="button"
            onClick={() => setVersion((v) => v + 1)}
            disabled={view.loading}
          >
            {view.loading ? 'Loading…' : 'Reload'}
          </button>
        </div>
      </div>
      {view.error !== null && (
        <ErrorNote title="The timeline could not be loaded">{errorMessage(view.error)}</ErrorNote>
      )}
      {value && (
        <p className="timeline-summary" data-testid="timeline-summary">
          Retention window {value.window.retentionDays} days (from{' '}
          {formatTimestamp(value.window.from)}).{' '}
          {value.earliestRestorable && value.latestRestorable ? (
            <>
              Restorable from{' '}
              <span className="mono">{formatTimestamp(value.earliestRestorable.createdAt)}</span> to{' '}
              <span className="mono">{formatTimestamp(value.latestRestorable.createdAt)}</span>.
            </>
          ) : (
            <strong className="text-warn">No restorable point yet.</strong>
          )}{' '}
          In view: {plural(value.restorePoints.total, 'restore point')} (
          {value.restorePoints.restorable} restorable, {value.restorePoints.created} waiting for
          WAL,{' '}
          <span className={value.restorePoints.failed > 0 ? 'text-danger' : undefined}>
            {value.restorePoints.failed} failed
          </span>
          ).
        </p>
      )}
      <div ref={containerRef} className="timeline-frame">
        {!value && view.error === null && <p className="muted">Loading the timeline…</p>}
        {value && value.nodes.length === 0 ? (
          <EmptyState title="Nothing recorded for this cluster yet">
            <p>
              Its nodes appear once the cluster is in the repository’s catalog; take a base backup
              to start the timeline.
            </p>
          </EmptyState>
        ) : (
          value && (
            <TimelineChart
              view={value}
              width={width}
              chosen={chosen}
              snapped={snap?.point ?? null}
              onChoose={setChosen}
            />
          )
        )}
        {value && range && chosen !== null && value.nodes.length > 0 && (
          <input
            type="range"
            className="timeline-slider"
            aria-label="Restore time"
            data-testid="timeline-slider"
            min={range.from}
            max={range.to}
            step={sliderStep}
            value={chosen}
            // the thumb's centre runs from half a thumb in to half a thumb short: line it up with the track
            style={{
              marginLeft: timelineGutter - sliderThumb / 2,
              width: trackWidth(width) + sliderThumb,
            }}
            onChange={(e) => setChosen(Number(e.target.value))}
          />
        )}
      </div>
      {value && range && chosen !== null && value.nodes.length > 0 && (
        <>
          <ul className="legend small muted">
            {legend.map(([swatch, text]) => (
              <li key={swatch}>
                <span className={`legend-swatch ${swatch}`} /> {text}
              </li>
            ))}
            <li>WAL times are estimated from the LSNs of backups and restore points.</li>
          </ul>
          <SnapPanel
            chosen={chosen}
            snap={snap}
            loading={snapError === null}
            onJump={setChosen}
            onRestore={(name) =>
              startRestoreDraft(clusterId, {
                kind: 'point',
                pointName: name,
                time: toDatetimeLocal(new Date(chosen).toISOString()),
              })
            }
          />
          {snapError && <ErrorNote>{snapError}</ErrorNote>}
          {value.failedPoints.length > 0 && (
            <>
              <h2>Failed restore points in view</h2>
              <table className="table" data-testid="failed-points">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Name</th>
                    <th scope="col">Why</th>
                  </tr>
                </thead>
                <tbody>
                  {[...value.failedPoints].reverse().map((p) => (
                    <tr key={p.name}>
                      <td className="mono nowrap">{formatTimestamp(p.createdAt)}</td>
                      <td className="mono">
                        {p.name}
                        {p.label && <div className="small muted">“{p.label}”</div>}
                      </td>
                      <td className="text-danger">{p.error ?? 'no detail recorded'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </>
          )}
        </>
      )}
    </section>
  );
}
