import type { EventPayload, MethodInput, MethodOutput } from '../../../main/api/contract/index.js';

/** Shapes the renderer works with, all derived from the contract so they cannot drift. */
export type Job = EventPayload<'job.updated'>;
export type JobState = Job['state'];
export type JobPart = Job['parts'][string];
export type Progress = NonNullable<Job['progress']>;
export type AppInfo = MethodOutput<'app.info'>;
export type Settings = MethodOutput<'settings.get'>;
export type SettingsPatch = MethodInput<'settings.update'>;
export type LogLevel = Settings['logging']['level'];

export type ClusterSummary = MethodOutput<'clusters.list'>[number];
export type AddClusterInput = MethodInput<'clusters.add'>;
export type AddClusterResult = MethodOutput<'clusters.add'>;
export type ClusterCheckResult = MethodOutput<'clusters.check'>;
export type PreflightCheck = ClusterCheckResult['checks'][number];
export type RestorePointRecord = MethodOutput<'restorePoints.create'>;
export type WalStatus = MethodOutput<'wal.status'>[number];
export type WalNodeOverview = MethodOutput<'wal.overview'>[number];
export type NodeBackups = MethodOutput<'backups.list'>[number];

export type RepositorySummary = MethodOutput<'repositories.list'>[number];
export type RepositoryStatus = MethodOutput<'repositories.status'>;
export type RepositoryCreateInput = MethodInput<'repositories.create'>;
export type ZoneConfigInput = RepositoryCreateInput['config']['zones'][number];
export type ZoneHealth = RepositorySummary['zones'][number];
export type RetentionRun = NonNullable<MethodOutput<'repositories.prune'>['run']>;

export type RestoreTarget = MethodInput<'restores.plan'>['target'];
export type RestorePlan = MethodOutput<'restores.plan'>;
export type RestoreStartInput = MethodInput<'restores.start'>;
export type RestoreRecord = MethodOutput<'restores.list'>[number];

export type TimelineView = MethodOutput<'timeline.get'>;
export type TimelineNode = TimelineView['nodes'][number];
export type TimelinePoint = TimelineView['failedPoints'][number];
export type PointBucket = TimelineView['restorePoints']['buckets'][number];
export type NearestPoint = MethodOutput<'timeline.nearestPoint'>;
