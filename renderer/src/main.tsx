import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { pickTransport } from './api/transport.js';
import { App } from './components/App.js';
import { MissingTokenPage } from './components/MissingTokenPage.js';
import { startStores } from './state/start-stores.js';
import './styles.css';

const root = document.getElementById('root');
if (!root) throw new Error('index.html lacks the #root element.');

const choice = pickTransport();
if (choice.ok) startStores(choice.transport);

createRoot(root).render(<StrictMode>{choice.ok ? <App /> : <MissingTokenPage />}</StrictMode>);
