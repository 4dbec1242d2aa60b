import { Empty } from '../components/states';

export default function Channels() {
  return (
    <section>
      <h1>Channels</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
