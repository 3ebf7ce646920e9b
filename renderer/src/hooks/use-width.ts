import { useLayoutEffect, useState } from 'react';

/**
 * The content width of an element (without its padding), following resizes; null until the
 * element is rendered. Returns a callback ref, so an element that appears later is measured too.
 */
export function useWidth<E extends HTMLElement>(): [(element: E | null) => void, number | null] {
  const [element, setElement] = useState<E | null>(null);
  const [width, setWidth] = useState<number | null>(null);
  useLayoutEffect(() => {
    if (!element) return;
    const style = getComputedStyle(element);
    const padding = parseFloat(style.paddingLeft) + parseFloat(style.paddingRight);
    setWidth(Math.round(element.clientWidth - padding));
    const observer = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w) setWidth(Math.round(w));
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, [element]);
  return [setElement, width];
}
