import { stringify } from 'yaml';
import { importMirth } from './convert';
import type { ReportItem } from './report';
import { channelXml, queue, rule, TCP_LISTENER, TCP_SENDER, type ConnectorXml } from './test-xml';
import { MirthImportError } from './xml';

/** Imports one channel export; its YAML object and report items. */
function one(xml: string) {
  const result = importMirth([{ path: 'export.xml', text: xml }]);
  const c = result.channels[0];
  if (!c) throw new Error('no channel');
  return { channel: c.channel, items: c.report.items, transformers: c.transformers, result };
}

function item(items: readonly ReportItem[], pathPart: string): ReportItem {
  const found = items.find((i) => i.path.includes(pathPart));
  if (!found) throw new Error(`no report item at ${pathPart}: ${items.map((i) => i.path).join(', ')}`);
  return found;
}

const withSender = (source: ConnectorXml, ...destinations: ConnectorXml[]) =>
  channelXml({ source, destinations: destinations.length ? destinations : [TCP_SENDER] });

describe('sources', () => {
  it('a TCP Listener with MLLP becomes an mllp source on the same address', () => {
    const { channel, items } = one(withSender(TCP_LISTENER));
    expect(channel.source).toEqual({ type: 'mllp', listen: '0.0.0.0:6661' });
    expect(item(items, 'listenerConnectorProperties').outcome).toBe('exact');
  });

  it.each([
    ['Auto-generate (Before processing)', 'received', 'exact'],
    ['Auto-generate (After source transformer)', 'processed', 'exact'],
    ['Auto-generate (Destinations completed)', 'processed', 'approximate'],
    ['None', 'received', 'approximate'],
    ['d1', 'received', 'not_converted'],
  ])('the response "%s" becomes ack.when %s (%s)', (response, when, outcome) => {
    const source = {
      ...TCP_LISTENER,
      properties: TCP_LISTENER.properties.replace('Auto-generate (Before processing)', response),
    };
    const { channel, items } = one(withSender(source));
    expect(channel.ack).toEqual({ when });
    expect(item(items, 'responseVariable').outcome).toBe(outcome);
  });

  it('with the source queue on, Mirth answers before processing: ack.when received', () => {
    const source = {
      ...TCP_LISTENER,
      properties: TCP_LISTENER.properties.replace(
        '<responseVariable>Auto-generate (Before processing)</responseVariable>',
        '<responseVariable>Auto-generate (After source transformer)</responseVariable><respondAfterProcessing>false</respondAfterProcessing>',
      ),
    };
    const { channel, items } = one(withSender(source));
    expect(channel.ack).toEqual({ when: 'received' });
    expect(item(items, 'respondAfterProcessing').outcome).toBe('exact');
  });

  it('a non-MLLP TCP Listener and client mode are reported, not silently taken as MLLP', () => {
    const source = {
      ...TCP_LISTENER,
      properties: `<listenerConnectorProperties><host>0.0.0.0</host><port>7000</port></listenerConnectorProperties>
        <transmissionModeProperties class="com.mirth.connect.model.transmission.framemode.FrameModeProperties"><pluginPointName>Raw</pluginPointName></transmissionModeProperties>
        <serverMode>false</serverMode>`,
    };
    const { items } = one(withSender(source));
    expect(item(items, 'transmissionModeProperties').outcome).toBe('not_converted');
    expect(item(items, 'serverMode').outcome).toBe('not_converted');
  });

  it('an HTTP Listener with basic authentication takes a bearer token from the environment, never the password', () => {
    const { channel, items } = one(
      withSender({
        transport: 'HTTP Listener',
        properties: `<pluginProperties><com.mirth.connect.plugins.httpauth.basic.BasicHttpAuthProperties>
            <credentials><entry><string>clinic</string><string>hunter2</string></entry></credentials>
          </com.mirth.connect.plugins.httpauth.basic.BasicHttpAuthProperties></pluginProperties>
          <listenerConnectorProperties><host>0.0.0.0</host><port>8002</port></listenerConnectorProperties>
          <contextPath>hl7</contextPath>`,
      }),
    );
    expect(channel.source).toEqual({
      type: 'http',
      listen: '0.0.0.0:8002',
      path: '/hl7',
      auth_token: '${TEST_CHANNEL_HTTP_TOKEN}',
    });
    expect(item(items, 'BasicHttpAuthProperties').outcome).toBe('approximate');
    expect(stringify(channel)).not.toContain('hunter2');
  });

  const fileReader = (scheme: string, host: string, extra = '') => ({
    transport: 'File Reader',
    properties: `<pollConnectorProperties><pollingType>INTERVAL</pollingType><pollingFrequency>2000</pollingFrequency></pollConnectorProperties>
      <sourceConnectorProperties><responseVariable>None</responseVariable><processBatch>false</processBatch></sourceConnectorProperties>
      <scheme>${scheme}</scheme><host>${host}</host><fileFilter>*.hl7</fileFilter><regex>false</regex>
      <username>lab</username><password>file-secret</password>
      <afterProcessingAction>MOVE</afterProcessingAction><moveToDirectory>/in/done</moveToDirectory><moveToFileName>\${originalFilename}</moveToFileName>
      <errorMoveToDirectory>/in/error</errorMoveToDirectory>
      <checkFileAge>true</checkFileAge><fileAge>1500</fileAge><ignoreFileSizeMaximum>true</ignoreFileSizeMaximum>${extra}`,
  });

  it('a local File Reader becomes a file source', () => {
    const { channel } = one(withSender(fileReader('FILE', '/in')));
    expect(channel.source).toEqual({
      type: 'file',
      directory: '/in',
      pattern: '*.hl7',
      poll_interval_ms: 2000,
      min_age_ms: 1500,
      done_directory: '/in/done',
      error_directory: '/in/error',
      content_type: 'hl7v2',
    });
    expect(channel.ack).toBeUndefined();
  });

  it('an SFTP File Reader becomes an sftp source with the password and host key from the environment', () => {
    const { channel, items } = one(
      withSender(
        fileReader(
          'SFTP',
          'sftp.lab.example:2222/out',
          '<schemeProperties><passwordAuth>true</passwordAuth><keyAuth>false</keyAuth></schemeProperties>',
        ),
      ),
    );
    expect(channel.source).toMatchObject({
      type: 'sftp',
      host: 'sftp.lab.example',
      port: 2222,
      directory: '/out',
      username: 'lab',
      password: '${TEST_CHANNEL_SOURCE_SFTP_PASSWORD}',
      host_key_sha256: '${TEST_CHANNEL_SOURCE_SFTP_HOST_KEY_SHA256}',
      pattern: '*.hl7',
    });
    expect(channel.source).not.toHaveProperty('host_key');
    expect(stringify(channel)).not.toContain('file-secret');
    expect(item(items, 'hostKeyChecking').outcome).toBe('approximate');
  });

  it('a File Reader over FTP, and a regular expression filter, are not converted', () => {
    const { items: ftp, channel } = one(withSender(fileReader('FTP', 'ftp.example/in')));
    expect(item(ftp, 'properties/scheme').outcome).toBe('not_converted');
    expect(channel.enabled).toBe(false);
    const { items } = one(
      withSender(
        fileReader('FILE', '/in').properties.includes('')
          ? {
              ...fileReader('FILE', '/in'),
              properties: fileReader('FILE', '/in').properties.replace(
                '<regex>false</regex>',
                '<regex>true</regex>',
              ),
            }
          : fileReader('FILE', '/in'),
      ),
    );
    expect(item(items, 'fileFilter').outcome).toBe('not_converted');
  });

  it('a Database Reader becomes a database source, with the JDBC URL rewritten and the update statement reported', () => {
    const { channel, items } = one(
      withSender({
        transport: 'Database Reader',
        inbound: 'XML',
        properties: `<pollConnectorProperties><pollingType>INTERVAL</pollingType><pollingFrequency>60000</pollingFrequency></pollConnectorProperties>
          <driver>org.postgresql.Driver</driver><url>jdbc:postgresql://db:5432/pms</url><username>reader</username><password>db-secret</password>
          <select>SELECT * FROM visit WHERE sent = 0</select><update>UPDATE visit SET sent = 1 WHERE id = \${id}</update><useScript>false</useScript>`,
      }),
    );
    // The database connectors take the login in the URL; the password stays in the environment.
    expect(channel.source).toEqual({
      type: 'database',
      url: 'postgres://reader:${TEST_CHANNEL_SOURCE_DB_PASSWORD}@db:5432/pms',
      query: 'SELECT * FROM visit WHERE sent = 0',
      mark_column: 'id',
      key_column: 'id',
      poll_interval_ms: 60000,
    });
    expect(stringify(channel)).not.toContain('db-secret');
    expect(item(items, 'properties/update')).toMatchObject({
      outcome: 'approximate',
      verbatim: 'UPDATE visit SET sent = 1 WHERE id = ${id}',
    });
  });

  it('a Channel Reader no imported channel writes to becomes a channel source with from left to fill in', () => {
    const { channel, items } = one(withSender({ transport: 'Channel Reader', properties: '' }));
    expect(channel.source).toEqual({ type: 'channel', from: [] });
    expect(item(items, 'sourceConnector/').outcome).toBe('not_converted');
  });

  it('an unknown source leaves the channel disabled, and says so', () => {
    const { channel, items } = one(
      withSender({ transport: 'JavaScript Reader', properties: '<script>return [];</script>' }),
    );
    expect(channel.enabled).toBe(false);
    expect(item(items, 'sourceConnector/transportName').outcome).toBe('not_converted');
  });
});

describe('destinations and their queues', () => {
  it('a TCP Sender becomes an mllp destination; queue off with retries becomes that many attempts', () => {
    const { channel } = one(withSender(TCP_LISTENER));
    expect(channel.destinations).toEqual([
      {
        name: 'ehr',
        type: 'mllp',
        url: 'mllp://127.0.0.1:6662',
        ack_timeout_ms: 5000,
        retry: { attempts: 1, initial_delay_ms: 10000, multiplier: 1, max_delay_ms: 10000, jitter: 0 },
      },
    ]);
  });

  it.each([
    [
      '<queueEnabled>true</queueEnabled><retryCount>0</retryCount><retryIntervalMillis>5000</retryIntervalMillis><rotate>false</rotate><threadCount>1</threadCount>',
      { attempts: 1000, initial_delay_ms: 5000 },
      { ordering: 'channel' },
    ],
    [
      '<queueEnabled>true</queueEnabled><retryCount>3</retryCount><retryIntervalMillis>5000</retryIntervalMillis><rotate>true</rotate><threadCount>1</threadCount>',
      { attempts: 4, initial_delay_ms: 5000 },
      { ordering: 'none' },
    ],
    [
      '<queueEnabled>true</queueEnabled><retryCount>0</retryCount><retryIntervalMillis>1000</retryIntervalMillis><threadCount>4</threadCount>',
      { attempts: 1000, initial_delay_ms: 1000 },
      { ordering: 'none', concurrency: 4 },
    ],
  ])('queue settings %s', (settings, retry, rest) => {
    const dest = {
      ...TCP_SENDER,
      properties: TCP_SENDER.properties.replace(
        /<destinationConnectorProperties>.*?<\/destinationConnectorProperties>/s,
        queue(settings),
      ),
    };
    const { channel } = one(withSender(TCP_LISTENER, dest));
    const [d] = channel.destinations as Array<Record<string, unknown>>;
    expect(d?.retry).toMatchObject(retry);
    expect(d).toMatchObject(rest);
  });

  it('an HTTP Sender becomes an http destination; credentials become an Authorization header from the environment', () => {
    const { channel, items } = one(
      withSender(TCP_LISTENER, {
        transport: 'HTTP Sender',
        name: 'Billing API',
        properties: `<host>https://billing.example/api</host><method>put</method>
          <headers class="linked-hash-map"><entry><string>X-Clinic</string><list><string>north</string></list></entry></headers>
          <parameters class="linked-hash-map"/>
          <useAuthentication>true</useAuthentication><authenticationType>Basic</authenticationType><username>u</username><password>http-secret</password>
          <content>\${message.encodedData}</content><contentType>application/hl7-v2</contentType><socketTimeout>15000</socketTimeout>`,
      }),
    );
    expect((channel.destinations as unknown[])[0]).toEqual({
      name: 'billing-api',
      type: 'http',
      url: 'https://billing.example/api',
      method: 'PUT',
      headers: { 'X-Clinic': 'north', Authorization: '${TEST_CHANNEL_BILLING_API_AUTHORIZATION}' },
      content_type: 'application/hl7-v2',
      timeout_ms: 15000,
    });
    expect(stringify(channel)).not.toContain('http-secret');
    expect(item(items, 'useAuthentication').outcome).toBe('approximate');
  });

  it('a template other than the encoded message is not converted, with the template kept', () => {
    const { items } = one(
      withSender(TCP_LISTENER, {
        ...TCP_SENDER,
        properties: TCP_SENDER.properties.replace('${message.encodedData}', 'MSH|^~\\&amp;|${mrn}'),
      }),
    );
    expect(item(items, 'properties/template')).toMatchObject({
      outcome: 'not_converted',
      verbatim: 'MSH|^~\\&|${mrn}',
    });
  });

  it('a File Writer becomes a file destination; Mirth file name variables are mapped or reported', () => {
    const { channel, items } = one(
      withSender(TCP_LISTENER, {
        transport: 'File Writer',
        name: 'Archive',
        properties: `<scheme>FILE</scheme><host>/archive</host><outputPattern>\${message.messageId}-\${originalFilename}.hl7</outputPattern>
          <outputAppend>true</outputAppend><template>\${message.encodedData}</template>`,
      }),
    );
    expect((channel.destinations as unknown[])[0]).toMatchObject({
      type: 'file',
      directory: '/archive',
      filename: '${message_id}-${message_id}.hl7',
    });
    expect(item(items, 'outputPattern').outcome).toBe('approximate');
    expect(item(items, 'outputAppend').outcome).toBe('not_converted');
  });

  it('a Database Writer becomes a database destination with named parameters in place of ${…}', () => {
    const { channel, items } = one(
      withSender(TCP_LISTENER, {
        transport: 'Database Writer',
        name: 'Results',
        properties: `<driver>com.mysql.cj.jdbc.Driver</driver><url>jdbc:mysql://db:3306/lab</url><username>w</username><password>x</password>
          <query>INSERT INTO result (mrn) VALUES (\${mrn})</query><useScript>false</useScript>`,
      }),
    );
    expect((channel.destinations as unknown[])[0]).toEqual({
      name: 'results',
      type: 'database',
      url: 'mysql://w:${TEST_CHANNEL_RESULTS_DB_PASSWORD}@db:3306/lab',
      statements: [{ sql: 'INSERT INTO result (mrn) VALUES (:mrn)', params: { mrn: 'mrn' } }],
    });
    expect(item(items, 'properties/query').outcome).toBe('approximate');
  });

  it("a Database Writer script's one executeUpdate becomes the statement, its $('…') values parameters", () => {
    const script = `var dbConn;
try {
  dbConn = DatabaseConnectionFactory.createDatabaseConnection('com.mysql.jdbc.Driver', 'jdbc:mysql://db/t', 'root', 'pw');
  dbConn.executeUpdate("INSERT INTO person (name, dob, n) VALUES ('" + $('Name') + "', '" + $("Dob") + "', " + $('n') + ")");
} finally { if (dbConn) dbConn.close(); }`;
    const xml = (q: string) =>
      withSender(TCP_LISTENER, {
        transport: 'Database Writer',
        name: 'People',
        properties: `<url>jdbc:mysql://db:3306/t</url><username>w</username><password>x</password>
          <query>${q.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</query><useScript>true</useScript>`,
      });
    const { channel, items } = one(xml(script));
    expect((channel.destinations as unknown[])[0]).toMatchObject({
      type: 'database',
      statements: [
        {
          sql: 'INSERT INTO person (name, dob, n) VALUES (:Name, :Dob, :n)',
          params: { Name: 'Name', Dob: 'Dob', n: 'n' },
        },
      ],
    });
    expect(item(items, 'properties/query').outcome).toBe('approximate');
    // Any other script is left for a person, and the destination left out.
    const other = one(xml('var x = 1; dbConn.executeUpdate(build(x));'));
    expect(other.channel.destinations).toEqual([]);
    expect(item(other.items, 'properties/query').outcome).toBe('not_converted');
  });

  it('a Channel Writer names the Sinew id of the channel it writes to, when that channel is imported too', () => {
    const target = channelXml({
      id: 'target-1',
      name: 'Lab Results In',
      source: { transport: 'Channel Reader', properties: '' },
      destinations: [TCP_SENDER],
    });
    const writer = channelXml({
      id: 'writer-1',
      name: 'Router',
      source: TCP_LISTENER,
      destinations: [
        {
          transport: 'Channel Writer',
          name: 'to lab',
          properties:
            '<channelId>target-1</channelId><channelTemplate>${message.encodedData}</channelTemplate>',
        },
      ],
    });
    const result = importMirth([
      { path: 'a.xml', text: writer },
      { path: 'b.xml', text: target },
    ]);
    expect(result.channels.map((c) => c.id)).toEqual(['router', 'lab-results-in']);
    expect((result.channels[0]?.channel.destinations as unknown[])[0]).toMatchObject({
      type: 'channel',
      channel: 'lab-results-in',
    });
    // The receiving channel names its senders, as the channel source requires.
    expect(result.channels[1]?.channel.source).toEqual({ type: 'channel', from: ['router'] });
    expect(item(result.channels[0]?.report.items ?? [], 'properties/channelId').outcome).toBe('exact');
    // A Mirth channel of another source can be written to; a Sinew one needs a channel source.
    const mllpTarget = channelXml({
      id: 'target-1',
      name: 'Lab Results In',
      source: TCP_LISTENER,
      destinations: [TCP_SENDER],
    });
    const other = importMirth([
      { path: 'a.xml', text: writer },
      { path: 'b.xml', text: mllpTarget },
    ]);
    expect(item(other.channels[0]?.report.items ?? [], 'properties/channelId')).toMatchObject({
      outcome: 'not_converted',
      note: expect.stringContaining('not a Channel Reader'),
    });
  });

  it('an SMTP Sender becomes an email destination', () => {
    const { channel } = one(
      withSender(TCP_LISTENER, {
        transport: 'SMTP Sender',
        name: 'Alert',
        properties: `<smtpHost>smtp.example</smtpHost><smtpPort>465</smtpPort><encryption>SSL</encryption>
          <authentication>true</authentication><username>a@example</username><password>mail-secret</password>
          <to>x@example; y@example</to><from>a@example</from><cc></cc><bcc></bcc>
          <subject>Result ready</subject><body>See the EHR.</body><html>false</html>`,
      }),
    );
    expect((channel.destinations as unknown[])[0]).toMatchObject({
      name: 'alert',
      type: 'email',
      host: 'smtp.example',
      port: 465,
      tls: 'tls',
      auth: { user: 'a@example', password: '${TEST_CHANNEL_ALERT_SMTP_PASSWORD}' },
      from: 'a@example',
      to: ['x@example', 'y@example'],
      subject: 'Result ready',
      body: 'See the EHR.',
      attachment: false,
    });
    expect(stringify(channel)).not.toContain('mail-secret');
  });

  it("an SMTP Sender's message variables become the email destination's; the others are reported", () => {
    const { channel, items } = one(
      withSender(TCP_LISTENER, {
        transport: 'SMTP Sender',
        name: 'Alert',
        properties: `<smtpHost>smtp.example</smtpHost><encryption>none</encryption><to>x@example</to><from>a@example</from>
          <bcc>z@example</bcc><subject>Message \${message.messageId} for \${mrn}</subject><body>\${message.encodedData}</body>`,
      }),
    );
    const dest = (channel.destinations as Array<Record<string, unknown>>)[0];
    expect(dest).toMatchObject({ tls: 'none', subject: 'Message ${message_id} for mrn' });
    // The message goes as the attachment (the destination's default) when Mirth put it in the body.
    expect(dest).not.toHaveProperty('attachment');
    expect(dest).not.toHaveProperty('bcc');
    expect(dest).not.toHaveProperty('body');
    expect(item(items, 'properties/subject').outcome).toBe('not_converted');
    expect(item(items, 'properties/body').outcome).toBe('approximate');
    expect(item(items, 'properties/bcc').outcome).toBe('not_converted');
  });

  it('a disabled destination and an unknown one are left out, each with its report line', () => {
    const { channel, items } = one(
      withSender(
        TCP_LISTENER,
        { ...TCP_SENDER, enabled: false, name: 'Old' },
        {
          transport: 'JavaScript Writer',
          name: 'Script',
          properties: '<script>router.routeMessage("x", msg);</script>',
        },
        TCP_SENDER,
      ),
    );
    expect((channel.destinations as Array<{ name: string }>).map((d) => d.name)).toEqual(['ehr']);
    expect(item(items, 'connector[0: Old]/enabled').outcome).toBe('approximate');
    expect(item(items, 'connector[1: Script]/transportName')).toMatchObject({
      outcome: 'not_converted',
      verbatim: 'router.routeMessage("x", msg);',
    });
  });
});

describe('filters and transformer steps', () => {
  it('Rule Builder rules become one filter step, AND binding tighter than OR as in Mirth', () => {
    const filter = [
      rule("msg['MSH']['MSH.9']['MSH.9.1'].toString()", 'EQUALS', ['"ADT"']),
      rule("msg['MSH']['MSH.9']['MSH.9.2'].toString()", 'EQUALS', ['"A01"', "'A04'"], 'AND'),
      rule("msg['MSH']['MSH.9']['MSH.9.1'].toString()", 'EQUALS', ['"ORU"'], 'OR'),
      rule("msg['PID']['PID.5']['PID.5.1'].toString()", 'NOT_CONTAIN', ['"TEST"', '"DEMO."'], 'AND'),
      rule("msg['PID']['PID.3']['PID.3.1']", 'NOT_EXIST', [], 'OR'),
    ]
      .map((r, i) => r.replace('<name>', `<sequenceNumber>${i}</sequenceNumber><name>`))
      .join('');
    const { channel } = one(withSender({ ...TCP_LISTENER, filter }));
    expect(channel.pipeline).toEqual([
      {
        filter: {
          any: [
            {
              all: [
                { path: 'MSH-9.1', equals: 'ADT' },
                { path: 'MSH-9.2', in: ['A01', 'A04'] },
              ],
            },
            {
              all: [
                { path: 'MSH-9.1', equals: 'ORU' },
                { not: { path: 'PID-5.1', matches: 'TEST|DEMO\\.' } },
              ],
            },
            { path: 'PID-3.1', present: false },
          ],
        },
      },
    ]);
  });

  it('a filter with a JavaScript rule is left out whole, the script kept in the report', () => {
    const filter =
      rule("msg['MSH']['MSH.9']['MSH.9.1'].toString()", 'EQUALS', ['"ADT"']).replace(
        '<name>',
        '<sequenceNumber>0</sequenceNumber><name>',
      ) +
      `<com.mirth.connect.plugins.javascriptrule.JavaScriptRule><sequenceNumber>1</sequenceNumber><name>js</name><operator>AND</operator>
        <script>return msg['PID']['PID.8'].toString() == 'F';</script></com.mirth.connect.plugins.javascriptrule.JavaScriptRule>`;
    const { channel, items } = one(withSender({ ...TCP_LISTENER, filter }));
    expect(channel.pipeline).toBeUndefined();
    expect(item(items, 'JavaScriptRule[1]')).toMatchObject({
      outcome: 'not_converted',
      verbatim: "return msg['PID']['PID.8'].toString() == 'F';",
    });
    expect(items.find((i) => i.path === 'sourceConnector/filter')?.outcome).toBe('not_converted');
  });

  it('a rule comparing with an expression is not converted', () => {
    const filter = rule("msg['MSH']['MSH.4']['MSH.4.1'].toString()", 'EQUALS', ["$('facility')"]);
    const { items } = one(withSender({ ...TCP_LISTENER, filter }));
    expect(item(items, 'RuleBuilderRule[0]').outcome).toBe('not_converted');
  });

  it('a destination filter becomes the destination’s filter', () => {
    const filter = rule("msg['PV1']['PV1.2']['PV1.2.1'].toString()", 'EQUALS', ['"I"']);
    const { channel } = one(withSender(TCP_LISTENER, { ...TCP_SENDER, filter }));
    expect((channel.destinations as unknown[])[0]).toMatchObject({
      filter: { path: 'PV1-2.1', equals: 'I' },
    });
  });

  it('Mapper steps become business keys and a values transformer; Message Builder steps a message transformer', () => {
    const transformer = `<com.mirth.connect.plugins.mapper.MapperStep><sequenceNumber>0</sequenceNumber><name>mrn</name><variable>mrn</variable>
        <mapping>msg['PID']['PID.3']['PID.3.1'].toString()</mapping><defaultValue></defaultValue><replacements/><scope>CHANNEL</scope></com.mirth.connect.plugins.mapper.MapperStep>
      <com.mirth.connect.plugins.messagebuilder.MessageBuilderStep><sequenceNumber>1</sequenceNumber><name>facility</name>
        <messageSegment>tmp['MSH']['MSH.6']['MSH.6.1']</messageSegment><mapping>"EHR"</mapping><defaultValue></defaultValue><replacements/></com.mirth.connect.plugins.messagebuilder.MessageBuilderStep>
      <com.mirth.connect.plugins.mapper.MapperStep><sequenceNumber>2</sequenceNumber><name>dob</name><variable>dob</variable>
        <mapping>msg['PID']['PID.7']['PID.7.1'].toString()</mapping><defaultValue>unknown</defaultValue><replacements/><scope>CHANNEL</scope></com.mirth.connect.plugins.mapper.MapperStep>`;
    const { channel, items, transformers } = one(withSender({ ...TCP_LISTENER, transformer }));
    expect(channel.keys).toEqual({ mrn: 'PID-3.1', dob: 'PID-7.1' });
    expect(transformers.map((t) => t.spec)).toEqual([
      expect.objectContaining({
        transformer: 'test-channel-values',
        input: 'hl7v2',
        output: 'json',
        resources: [
          {
            name: 'values',
            rules: [
              { from: 'PID-3.1', to: 'mrn' },
              { from: 'PID-7.1', to: 'dob' },
            ],
          },
        ],
      }),
      expect.objectContaining({
        transformer: 'test-channel-message',
        output: 'hl7v2',
        resources: [{ name: 'msh', segment: 'MSH', rules: [{ const: 'EHR', to: 'MSH-6.1' }] }],
      }),
    ]);
    expect(item(items, 'MapperStep[0]').outcome).toBe('exact');
    expect(item(items, 'MapperStep[2]').outcome).toBe('approximate'); // its default value
  });

  it('a JavaScript step of idioms is translated; any other is kept verbatim', () => {
    const transformer = `<com.mirth.connect.plugins.javascriptstep.JavaScriptStep><sequenceNumber>0</sequenceNumber><name>idioms</name>
        <script>channelMap.put('visit', msg['PV1']['PV1.19']['PV1.19.1'].toString());</script></com.mirth.connect.plugins.javascriptstep.JavaScriptStep>
      <com.mirth.connect.plugins.javascriptstep.JavaScriptStep><sequenceNumber>1</sequenceNumber><name>loop</name>
        <script>for each (seg in msg.OBX) { logger.info(seg); }</script></com.mirth.connect.plugins.javascriptstep.JavaScriptStep>`;
    const { channel, items } = one(withSender({ ...TCP_LISTENER, transformer }));
    expect(channel.keys).toEqual({ visit: 'PV1-19.1' });
    expect(item(items, 'JavaScriptStep[0]').outcome).toBe('exact');
    expect(item(items, 'JavaScriptStep[1]')).toMatchObject({
      outcome: 'not_converted',
      verbatim: 'for each (seg in msg.OBX) { logger.info(seg); }',
    });
  });
});

describe('channel settings', () => {
  it.each([
    ['DEVELOPMENT', 'exact'],
    ['PRODUCTION', 'exact'],
    ['RAW', 'approximate'],
    ['METADATA', 'approximate'],
    ['DISABLED', 'approximate'],
  ])('message storage %s is %s', (mode, outcome) => {
    const { items } = one(
      channelXml({
        source: TCP_LISTENER,
        destinations: [TCP_SENDER],
        properties: `<messageStorageMode>${mode}</messageStorageMode>`,
      }),
    );
    expect(item(items, 'messageStorageMode').outcome).toBe(outcome);
  });

  it('channel scripts other than the defaults are kept verbatim', () => {
    const { items } = one(
      channelXml({
        source: TCP_LISTENER,
        destinations: [TCP_SENDER],
        scripts: `<preprocessingScript>// Modify the message variable below to pre process data
return message;</preprocessingScript><deployScript>globalMap.put('x', 1);</deployScript>`,
      }),
    );
    expect(item(items, 'preprocessingScript').outcome).toBe('exact');
    expect(item(items, 'deployScript')).toMatchObject({
      outcome: 'not_converted',
      verbatim: "globalMap.put('x', 1);",
    });
  });

  it('configuration-map references become environment references', () => {
    const dest = { ...TCP_SENDER, properties: TCP_SENDER.properties.replace('6662', '${ehr.port}') };
    const { channel } = one(withSender(TCP_LISTENER, dest));
    expect((channel.destinations as unknown[])[0]).toMatchObject({ url: 'mllp://127.0.0.1:${EHR_PORT}' });
  });

  it('channel names become unique ids', () => {
    const a = channelXml({ id: 'a', name: 'ADT Router', source: TCP_LISTENER, destinations: [TCP_SENDER] });
    const b = channelXml({ id: 'b', name: 'ADT  router!', source: TCP_LISTENER, destinations: [TCP_SENDER] });
    const result = importMirth(
      [
        { path: 'a.xml', text: a },
        { path: 'b.xml', text: b },
      ],
      { taken: ['adt-router-2'] },
    );
    expect(result.channels.map((c) => c.id)).toEqual(['adt-router', 'adt-router-3']);
  });
});

describe('odd input', () => {
  it('malformed XML is an error naming the file and the line', () => {
    const run = () =>
      importMirth([{ path: 'exports/broken.xml', text: '<channel>\n<name>x</nme>\n</channel>' }]);
    expect(run).toThrow(MirthImportError);
    expect(run).toThrow(/^exports\/broken\.xml: not well-formed XML at line 2, column \d+: .*'nme'/);
  });

  it.each([
    ['', /the file is empty/],
    ['<project><name>x</name></project>', /root element <project>/],
    ['<channel version="4.5.2"><name>x</name></channel>', /without <sourceConnector>/],
    ['not xml at all', /not well-formed XML|holds no XML element|not a Mirth export/],
  ])('%j is refused with a clear error', (text, message) => {
    expect(() => importMirth([{ path: 'odd.xml', text }])).toThrow(message);
    expect(() => importMirth([{ path: 'odd.xml', text }])).toThrow(/^odd\.xml: /);
  });

  it('elements in unexpected places do not crash the import', () => {
    const xml = channelXml({
      source: {
        transport: 'TCP Listener',
        properties: '<listenerConnectorProperties/><sourceConnectorProperties/>',
      },
      destinations: [
        { transport: 'HTTP Sender', properties: '<headers>text</headers><host/>' },
        { transport: '', properties: '' },
      ],
    });
    expect(() => one(xml)).not.toThrow();
  });
});
