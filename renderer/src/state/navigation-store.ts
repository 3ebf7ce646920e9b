import { create } from 'zustand';

export const sectionIds = ['clusters', 'timeline', 'restore', 'jobs', 'settings'] as const;
export type SectionId = (typeof sectionIds)[number];

export const sectionLabels: Record<SectionId, string> = {
  clusters: 'Clusters',
  timeline: 'Timeline',
  restore: 'Restore',
  jobs: 'Jobs',
  settings: 'Settings',
};

/** The section lives in the URL hash (`#/jobs`) so reloads and the back button keep it. */
export function sectionFromHash(hash: string): SectionId {
  const name = hash.replace(/^#\/?/, '');
  return (sectionIds as readonly string[]).includes(name) ? (name as SectionId) : 'clusters';
}

export function sectionHref(section: SectionId): string {
  return `#/${section}`;
}

interface NavigationState {
  section: SectionId;
}

export const useNavigationStore = create<NavigationState>()(() => ({
  section: sectionFromHash(window.location.hash),
}));

export function followLocationHash(): () => void {
  const update = () =>
    useNavigationStore.setState({ section: sectionFromHash(window.location.hash) });
  window.addEventListener('hashchange', update);
  return () => window.removeEventListener('hashchange', update);
}

export function navigate(section: SectionId): void {
  window.location.hash = sectionHref(section);
}
