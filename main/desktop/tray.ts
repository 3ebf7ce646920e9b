import { Menu, nativeImage, Tray } from 'electron';

export interface TrayActions {
  open(): void;
  quit(): void;
}

/** The tray icon that keeps Tidemark reachable while it runs in the background. */
export function createTray(iconPath: string, actions: TrayActions): Tray {
  const tray = new Tray(nativeImage.createFromPath(iconPath).resize({ width: 16, height: 16 }));
  tray.setToolTip('Tidemark');
  tray.setContextMenu(
    Menu.buildFromTemplate([
      { label: 'Open Tidemark', click: actions.open },
      { type: 'separator' },
      { label: 'Quit', click: actions.quit },
    ]),
  );
  tray.on('click', actions.open);
  return tray;
}
