import { Empty } from '../components/states';

export default function Users() {
  return (
    <section>
      <h1>Users</h1>
      <Empty>This page is being built.</Empty>
    </section>
  );
}
