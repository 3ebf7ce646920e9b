import {
  sectionHref,
  sectionIds,
  sectionLabels,
  type SectionId,
} from '../state/navigation-store.js';

export function NavBar({ current }: { current: SectionId }) {
  return (
    <nav className="nav" aria-label="Sections">
      <ul>
        {sectionIds.map((id) => (
          <li key={id}>
            <a
              href={sectionHref(id)}
              data-testid={`nav-${id}`}
              className={id === current ? 'nav-link active' : 'nav-link'}
              aria-current={id === current ? 'page' : undefined}
            >
              {sectionLabels[id]}
            </a>
          </li>
        ))}
      </ul>
    </nav>
  );
}
