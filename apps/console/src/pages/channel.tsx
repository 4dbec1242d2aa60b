import { Empty } from '../components/states';

export default function Channel() {
  return (
    <section>
      <h1>Channel</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
