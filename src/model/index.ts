export * from './common.js';
export * from './user.js';
export * from './host.js';
export * from './vm.js';
export * from './image.js';
export * from './file.js';
export * from './network.js';
export * from './console.js';
