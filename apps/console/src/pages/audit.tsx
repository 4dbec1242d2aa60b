import { Empty } from '../components/states';

export default function Audit() {
  return (
    <section>
      <h1>Audit</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
