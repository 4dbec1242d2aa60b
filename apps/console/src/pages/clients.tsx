import { Empty } from '../components/states';

export default function Clients() {
  return (
    <section>
      <h1>Clients</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
