/** Small Mirth channel exports for the unit tests, in the shape Mirth 4.5 writes them. */

export interface ConnectorXml {
  transport: string;
  properties: string;
  filter?: string;
  transformer?: string;
  inbound?: string;
  enabled?: boolean;
  name?: string;
}

function connector(c: ConnectorXml, tag: string, mode: string): string {
  return `<${tag} version="4.5.2">
    <name>${c.name ?? (mode === 'SOURCE' ? 'sourceConnector' : 'Destination 1')}</name>
    <properties class="x">${c.properties}</properties>
    <transformer version="4.5.2"><elements>${c.transformer ?? ''}</elements>
      <inboundDataType>${c.inbound ?? 'HL7V2'}</inboundDataType><outboundDataType>${c.inbound ?? 'HL7V2'}</outboundDataType></transformer>
    <filter version="4.5.2"><elements>${c.filter ?? ''}</elements></filter>
    <transportName>${c.transport}</transportName>
    <mode>${mode}</mode>
    <enabled>${c.enabled === false ? 'false' : 'true'}</enabled>
  </${tag}>`;
}

export function channelXml(options: {
  id?: string;
  name?: string;
  source: ConnectorXml;
  destinations?: ConnectorXml[];
  properties?: string;
  scripts?: string;
}): string {
  return `<channel version="4.5.2">
  <id>${options.id ?? 'c0ffee00-0000-4000-8000-000000000001'}</id>
  <name>${options.name ?? 'Test channel'}</name>
  <description></description>
  ${connector(options.source, 'sourceConnector', 'SOURCE')}
  <destinationConnectors>${(options.destinations ?? []).map((d) => connector(d, 'connector', 'DESTINATION')).join('\n')}</destinationConnectors>
  ${options.scripts ?? ''}
  <properties version="4.5.2">${options.properties ?? '<messageStorageMode>DEVELOPMENT</messageStorageMode>'}</properties>
</channel>`;
}

export const TCP_LISTENER: ConnectorXml = {
  transport: 'TCP Listener',
  properties: `<listenerConnectorProperties><host>0.0.0.0</host><port>6661</port></listenerConnectorProperties>
    <sourceConnectorProperties><responseVariable>Auto-generate (Before processing)</responseVariable></sourceConnectorProperties>
    <transmissionModeProperties class="com.mirth.connect.plugins.mllpmode.MLLPModeProperties"><pluginPointName>MLLP</pluginPointName></transmissionModeProperties>
    <serverMode>true</serverMode>`,
};

export function queue(settings: string): string {
  return `<destinationConnectorProperties>${settings}</destinationConnectorProperties>`;
}

export const TCP_SENDER: ConnectorXml = {
  transport: 'TCP Sender',
  name: 'EHR',
  properties: `${queue('<queueEnabled>false</queueEnabled><retryCount>0</retryCount><retryIntervalMillis>10000</retryIntervalMillis>')}
    <transmissionModeProperties class="com.mirth.connect.plugins.mllpmode.MLLPModeProperties"><pluginPointName>MLLP</pluginPointName></transmissionModeProperties>
    <remoteAddress>127.0.0.1</remoteAddress><remotePort>6662</remotePort><responseTimeout>5000</responseTimeout>
    <template>\${message.encodedData}</template>`,
};

export function rule(
  field: string,
  condition: string,
  values: string[],
  operator = 'NONE',
  name = 'rule',
): string {
  return `<com.mirth.connect.plugins.rulebuilder.RuleBuilderRule>
    <name>${name}</name><enabled>true</enabled><operator>${operator}</operator>
    <field>${field}</field><condition>${condition}</condition>
    <values>${values.map((v) => `<string>${v}</string>`).join('')}</values>
  </com.mirth.connect.plugins.rulebuilder.RuleBuilderRule>`;
}
