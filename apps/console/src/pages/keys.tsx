import { Empty } from '../components/states';

export default function Keys() {
  return (
    <section>
      <h1>Keys</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
