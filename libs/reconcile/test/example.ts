/** The reconciliation file docs/reconciliation.md shows, as tests compile it. */
export const EXAMPLE_FILE = `# yaml-language-server: $schema=../schemas/reconciliation.schema.json
id: demo
description: PMS vs EHR, nightly
schedule:
  cron: '30 2 * * *'
  timezone: Europe/London
timezone: America/New_York
period: yesterday
systems:
  pms:
    type: http_json
    base_url: \${PMS_URL:-http://127.0.0.1:8091}
    headers: { X-Clinic: main }
    auth: { bearer: '\${PMS_TOKEN}' }
  ehr:
    type: fhir
    base_url: \${EHR_URL:-http://127.0.0.1:8090/fhir}
  exports:
    type: csv
    dir: ./exports
  sinew:
    type: ledger
entities:
  - name: patients
    identity: mrn
    identity_normalise: [trim, upper]
    ledger: { channels: [pms-adt], key: mrn }
    fields:
      family: { normalise: [trim, upper] }
      given: { normalise: [trim, upper] }
      birth_date: { type: date, source_format: MM/DD/YYYY }
      sex: { map: { F: female, M: male, O: other, U: unknown } }
    source:
      system: pms
      path: /api/patients?updated_from={from}&updated_to={to}
      items: $.items
      next: $.next
      key: $.mrn
      fields: { family: $.family, given: $.given, birth_date: $.birth_date, sex: $.sex }
      updated_at: $.updated_at
    target:
      system: ehr
      resource: Patient
      key: identifier.where(system='urn:oid:1.2.3').value
      fields: { family: name.family, given: name.given, birth_date: birthDate, sex: gender }
    alerts: { never_received: 1, delivered_not_applied: 1 }
    critical: [delivered_not_applied]
  - name: charges
    identity: claim_number
    status: true
    fields:
      amount: { type: number, tolerance: 0.01 }
      posted: { type: datetime, tolerance: 5m }
    source:
      system: exports
      file: charges-{date}.csv
      key: Claim
      fields: { amount: Amount, posted: Posted }
      status: Status
    target:
      system: ehr
      resource: Claim
      key: identifier.value
      fields: { amount: total.value, posted: created }
      status: status
alerts:
  webhook: { url: https://alerts.clinic.example/sinew, secret: '\${RECON_WEBHOOK_SECRET:-}' }
fail_safe:
  pause_channels: [lab-results]
`;
