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
