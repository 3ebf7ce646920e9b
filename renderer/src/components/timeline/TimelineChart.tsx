import { useRef, type PointerEvent } from 'react';
import type { TimelineNode, TimelinePoint, TimelineView } from '../../api/types.js';
import { formatBytes, formatTimestamp } from '../../format.js';
import { densityBars } from '../../timeline/density-layout.js';
import {
  rangeOf,
  spanBox,
  timeAt,
  timeTicks,
  xOf,
  type TimeRange,
} from '../../timeline/time-scale.js';

/** Width of the label column left of the track; the slider below lines up with it. */
export const timelineGutter = 180;
const axisHeight = 24;
const pointsRowHeight = 40;
const nodeRowHeight = 46;

interface ChartProps {
  view: TimelineView;
  width: number;
  chosen: number | null;
  snapped: TimelinePoint | null;
  onChoose(t: number): void;
}

const statusWords = {
  restorable: 'restorable',
  created: 'not yet restorable',
  failed: 'failed',
} as const;

function PointsRow({
  view,
  range,
  track,
  y,
}: {
  view: TimelineView;
  range: TimeRange;
  track: number;
  y: number;
}) {
  const { points, buckets } = view.restorePoints;
  const base = y + pointsRowHeight - 6;
  const height = pointsRowHeight - 14;
  if (points !== null) {
    return (
      <g data-testid="timeline-points" data-mode="exact">
        {points.map((p) => {
          const x = xOf(range, Date.parse(p.createdAt), track);
          return (
            <line
              key={p.name}
              className={`tl-point tl-point-${p.status}`}
              x1={x}
              x2={x}
              y1={base - height}
              y2={base}
            >
              <title>
                {p.name}
                {p.label ? ` “${p.label}”` : ''} — {formatTimestamp(p.createdAt)},{' '}
                {statusWords[p.status]}
                {p.error ? `: ${p.error}` : ''}
              </title>
            </line>
          );
        })}
      </g>
    );
  }
  return (
    <g data-testid="timeline-points" data-mode="buckets">
      {densityBars(buckets, view.range, track, height).map((bar) => (
        <g key={bar.from}>
          <rect
            className="tl-density tl-point-restorable"
            x={bar.x}
            width={bar.w}
            y={base - bar.restorable}
            height={bar.restorable}
          />
          <rect
            className="tl-density tl-point-created"
            x={bar.x}
            width={bar.w}
            y={base - bar.restorable - bar.created}
            height={bar.created}
          />
          <rect
            className="tl-density tl-point-failed"
            x={bar.x}
            width={bar.w}
            y={base - bar.restorable - bar.created - bar.failed}
            height={bar.failed}
          />
          <title>
            {formatTimestamp(bar.from)} – {formatTimestamp(bar.to)}: {bar.counts.restorable}{' '}
            restorable, {bar.counts.created} not yet restorable, {bar.counts.failed} failed
          </title>
        </g>
      ))}
    </g>
  );
}

function NodeRow({
  node,
  range,
  track,
  y,
}: {
  node: TimelineNode;
  range: TimeRange;
  track: number;
  y: number;
}) {
  const backupY = y + 6;
  const walY = y + 28;
  const hasTimes = node.wal.coverage.some((c) => c.from !== null);
  return (
    <g data-testid={`timeline-node-${node.nodeId}`}>
      <line
        className="tl-row-rule"
        x1={0}
        x2={track}
        y1={y + nodeRowHeight}
        y2={y + nodeRowHeight}
      />
      {node.backups.map((b) => {
        const box = spanBox(range, Date.parse(b.startedAt), Date.parse(b.endedAt), track, 4);
        if (!box) return null;
        return (
          <rect
            key={b.backupId}
            className={b.degradedZones.length > 0 ? 'tl-backup tl-backup-degraded' : 'tl-backup'}
            x={box.x}
            y={backupY}
            width={box.w}
            height={16}
            rx={2}
            data-testid="timeline-backup"
          >
            <title>
              Base backup {b.backupId}: {formatTimestamp(b.startedAt)} –{' '}
              {formatTimestamp(b.endedAt)}, {formatBytes(b.storedBytes)} stored ({b.compression}) of{' '}
              {formatBytes(b.dataBytes)}; LSN {b.startLsn} – {b.endLsn}, timeline {b.timeline}
              {b.degradedZones.length > 0 ? `; missing in zones ${b.degradedZones.join(', ')}` : ''}
            </title>
          </rect>
        );
      })}
      <rect className="tl-wal-track" x={0} y={walY} width={track} height={8} />
      {node.wal.coverage.map((c) => {
        if (c.from === null || c.to === null) return null;
        const box = spanBox(range, Date.parse(c.from), Date.parse(c.to), track, 2);
        if (!box) return null;
        return (
          <rect
            key={c.fromLsn}
            className="tl-wal"
            x={box.x}
            y={walY}
            width={box.w}
            height={8}
            data-testid="timeline-wal"
          >
            <title>
              WAL {c.fromLsn} – {c.toLsn} archived (about {formatTimestamp(c.from)} –{' '}
              {formatTimestamp(c.to)})
            </title>
          </rect>
        );
      })}
      {node.wal.gaps.map((g) => {
        if (g.from === null || g.to === null) return null;
        const box = spanBox(range, Date.parse(g.from), Date.parse(g.to), track, 4);
        if (!box) return null;
        return (
          <rect
            key={`${g.timeline}-${g.fromLsn}`}
            className="tl-gap"
            x={box.x}
            y={walY - 3}
            width={box.w}
            height={14}
            data-testid="timeline-gap"
          >
            <title>
              WAL gap on timeline {g.timeline}: {g.fromLsn} – {g.toLsn} (about{' '}
              {formatTimestamp(g.from)}): {g.reason}
              {g.affectsRestore ? '. Restores cannot cross it.' : ''}
            </title>
          </rect>
        );
      })}
      {!hasTimes && (
        <text className="tl-empty-text" x={8} y={walY + 7}>
          {node.wal.segments === 0
            ? 'no WAL archived yet'
            : `${node.wal.segments} WAL segments; no backup or restore point to place them in time yet`}
        </text>
      )}
    </g>
  );
}

/** The window as a chart: an axis, restore points, and per node its backups and WAL with gaps. */
export function TimelineChart({ view, width, chosen, snapped, onChoose }: ChartProps) {
  const range = rangeOf(view.range);
  const track = trackWidth(width);
  const height = axisHeight + pointsRowHeight + view.nodes.length * nodeRowHeight + 8;
  const ticks = timeTicks(range, Math.max(2, Math.floor(track / 110)));
  const dragging = useRef(false);
  const windowFrom = Date.parse(view.window.from);
  const chooseAt = (event: PointerEvent<SVGRectElement>) => {
    const box = event.currentTarget.getBoundingClientRect();
    onChoose(timeAt(range, event.clientX - box.left, box.width));
  };
  const lineTop = axisHeight;
  const lineBottom = height - 8;

  return (
    <svg
      className="timeline-chart"
      width={width}
      height={height}
      role="img"
      aria-label="Timeline of backups, WAL and restore points"
      data-testid="timeline-chart"
    >
      <g className="tl-labels">
        <text className="tl-label" x={0} y={axisHeight + pointsRowHeight / 2 + 4}>
          Restore points
        </text>
        {view.nodes.map((node, i) => {
          const y = axisHeight + pointsRowHeight + i * nodeRowHeight;
          return (
            <g key={node.nodeId}>
              <text className="tl-label" x={0} y={y + 17}>
                {node.nodeId} · {node.role}
              </text>
              <text className="tl-sublabel" x={0} y={y + 33}>
                {node.removedAt ? 'removed' : `${node.name}:${node.port}`}
              </text>
            </g>
          );
        })}
      </g>
      <g transform={`translate(${timelineGutter},0)`}>
        {ticks.map((tick) => {
          const x = xOf(range, tick.t, track);
          return (
            <g key={tick.t}>
              <line className="tl-grid" x1={x} x2={x} y1={axisHeight - 4} y2={lineBottom} />
              <text className="tl-tick" x={x} y={axisHeight - 8}>
                {tick.label}
              </text>
            </g>
          );
        })}
        {windowFrom > range.from && windowFrom < range.to && (
          <line
            className="tl-window-start"
            x1={xOf(range, windowFrom, track)}
            x2={xOf(range, windowFrom, track)}
            y1={lineTop}
            y2={lineBottom}
          >
            <title>The retention window starts here ({view.window.retentionDays} days)</title>
          </line>
        )}
        <PointsRow view={view} range={range} track={track} y={axisHeight} />
        {view.failedPoints.map((p) => {
          const x = xOf(range, Date.parse(p.createdAt), track);
          return (
            <path
              key={p.name}
              className="tl-failed-mark"
              d={`M${x - 4},${axisHeight + 2} L${x + 4},${axisHeight + 2} L${x},${axisHeight + 9} Z`}
              data-testid="timeline-failed-point"
            >
              <title>
                Failed restore point {p.name} at {formatTimestamp(p.createdAt)}:{' '}
                {p.error ?? 'no detail'}
              </title>
            </path>
          );
        })}
        {view.nodes.map((node, i) => (
          <NodeRow
            key={node.nodeId}
            node={node}
            range={range}
            track={track}
            y={axisHeight + pointsRowHeight + i * nodeRowHeight}
          />
        ))}
        {snapped && (
          <line
            className="tl-snapped"
            x1={xOf(range, Date.parse(snapped.createdAt), track)}
            x2={xOf(range, Date.parse(snapped.createdAt), track)}
            y1={lineTop}
            y2={lineBottom}
            data-testid="timeline-snapped"
          />
        )}
        {chosen !== null && (
          <line
            className="tl-chosen"
            x1={xOf(range, chosen, track)}
            x2={xOf(range, chosen, track)}
            y1={lineTop}
            y2={lineBottom}
          />
        )}
        {/* the whole track picks a time: click or drag */}
        <rect
          className="tl-hit"
          x={0}
          y={axisHeight}
          width={track}
          height={lineBottom - axisHeight}
          onPointerDown={(event) => {
            dragging.current = true;
            event.currentTarget.setPointerCapture(event.pointerId);
            chooseAt(event);
          }}
          onPointerMove={(event) => {
            if (dragging.current) chooseAt(event);
          }}
          onPointerUp={() => (dragging.current = false)}
          onPointerCancel={() => (dragging.current = false)}
        />
      </g>
    </svg>
  );
}

export function trackWidth(width: number): number {
  return Math.max(width - timelineGutter - 4, 100);
}
