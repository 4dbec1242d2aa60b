import { Empty } from '../components/states';

export default function DeadLetters() {
  return (
    <section>
      <h1>DeadLetters</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
