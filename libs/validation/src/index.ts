export * from './issue';
export * from './hl7-datetime';
export * from './hl7-tables';
export * from './rules.schema';
export * from './rules';
export * from './structure.grammar';
export * from './structure';
