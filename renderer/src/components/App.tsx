import type { ComponentType } from 'react';
import { ClustersSection } from '../sections/ClustersSection.js';
import { JobsSection } from '../sections/JobsSection.js';
import { RestoreSection } from '../sections/RestoreSection.js';
import { SettingsSection } from '../sections/SettingsSection.js';
import { TimelineSection } from '../sections/TimelineSection.js';
import { useNavigationStore, type SectionId } from '../state/navigation-store.js';
import { ConnectionBanner } from './ConnectionBanner.js';
import { JobIndicator } from './JobIndicator.js';
import { NavBar } from './NavBar.js';
import { ToastList } from './ToastList.js';

const sectionViews: Record<SectionId, ComponentType> = {
  clusters: ClustersSection,
  timeline: TimelineSection,
  restore: RestoreSection,
  jobs: JobsSection,
  settings: SettingsSection,
};

export function App() {
  const section = useNavigationStore((state) => state.section);
  const SectionView = sectionViews[section];
  return (
    <div className="app">
      <header className="app-header">
        <span className="brand">Tidemark</span>
        <JobIndicator />
      </header>
      <ConnectionBanner />
      <div className="app-body">
        <NavBar current={section} />
        <main className="section-area">
          <SectionView />
        </main>
      </div>
      <ToastList />
    </div>
  );
}
